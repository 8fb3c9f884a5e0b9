"""Issue 14: crafted device trees, guest images and boot files never crash hcdbg, hang it or
reach an internal error: each is one `hcdbg:` line and exit 2."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import libfdt
import pytest

from conftest import ROOT, run_hcdbg
from test_cli_errors import _assert_usage_error


def dtb(*, root_cells: tuple[bytes, bytes] = (struct.pack(">I", 2), struct.pack(">I", 2)),
        method: bytes | None = b"hvc\0", depth: int = 0) -> bytes:
    """A small tree: the root's cells as given, /psci's method as given, `depth` nested nodes."""
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property("#address-cells", root_cells[0])
        sw.property("#size-cells", root_cells[1])
        with sw.add_node("psci"):
            if method is not None:
                sw.property("method", method)
        for _ in range(depth):
            sw.begin_node("n")
        for _ in range(depth):
            sw.end_node()
    fdt = sw.as_fdt()
    fdt.pack()
    return bytes(fdt.as_bytearray())


def bad_nameoff(size_over: int = 100) -> bytes:
    """A tree whose first property's name offset is past the strings block."""
    data = bytearray(dtb())
    off_struct = struct.unpack_from(">I", data, 8)[0]
    size_strings = struct.unpack_from(">I", data, 32)[0]
    # The root node: FDT_BEGIN_NODE, "" padded to 4 bytes; then FDT_PROP, len, nameoff.
    assert struct.unpack_from(">I", data, off_struct + 8)[0] == 3  # FDT_PROP
    struct.pack_into(">I", data, off_struct + 16, size_strings + size_over)
    return bytes(data)


def _write(tmp_path: Path, data: bytes, name: str = "t.dtb") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


CELL = struct.Struct(">I").pack


@pytest.mark.parametrize("data, needle", [
    (bad_nameoff(), "damaged"),
    (bad_nameoff(0x7fff_0000), "damaged"),
    (dtb(root_cells=(CELL(0xFFFF_FFFF), CELL(2))), "#address-cells"),
    (dtb(root_cells=(CELL(2), CELL(0xFFFF_FFFF))), "#size-cells"),
    (dtb(root_cells=(CELL(1000), CELL(2))), "#address-cells"),
    (dtb(method=b""), "/psci method"),
    (dtb(method=b"hvc"), "/psci method"),
    (dtb(method=b"hvc\0smc\0"), "/psci method"),
    (dtb(method=b"\xff\0"), "/psci method"),
], ids=["nameoff", "nameoff-far", "address-cells-huge", "size-cells-huge", "address-cells-1000",
        "method-empty", "method-no-nul", "method-two-strings", "method-not-text"])
def test_crafted_dtb_is_one_error_line(tmp_path: Path, data: bytes, needle: str) -> None:
    result = run_hcdbg("trace", "hello", "--dtb", _write(tmp_path, data), timeout=60)
    _assert_usage_error(result, "--dtb", needle)


def test_deeply_nested_dtb_boots(tmp_path: Path) -> None:
    r = run_hcdbg("trace", "hello", "--dtb", _write(tmp_path, dtb(depth=3000)), timeout=60)
    assert r.returncode == 0, r.stderr


def test_append_is_sized_in_bytes(tmp_path: Path) -> None:
    """A packed tree (no free space) grows by the command line's UTF-8 bytes, not its characters."""
    r = run_hcdbg("trace", "hello", "--dtb", _write(tmp_path, dtb()), "--append", "é" * 1100, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("with_dtb", [False, True])
def test_append_that_is_not_utf8_reaches_the_guest_as_bytes(tmp_path: Path, with_dtb: bool) -> None:
    extra = ["--dtb", _write(tmp_path, dtb())] if with_dtb else []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "hcdbg", "trace", "hello", "--append", b"ro \xff", *extra],
                       capture_output=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("option", ["GUEST", "--initrd", "--dtb", "--bios"])
@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_boot_files_must_be_regular_files(tmp_path: Path, option: str, special: str) -> None:
    """/dev/zero would be read until memory runs out, a FIFO with no writer forever."""
    path = special
    if special == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    args = {"GUEST": [path], "--bios": ["--bios", path]}.get(option, ["hello", option, path])
    _assert_usage_error(run_hcdbg("trace", *args, "--mem", "64M", timeout=60), "not a regular file")


def test_boot_files_are_bounded_by_ram(tmp_path: Path) -> None:
    big = tmp_path / "big.dtb"
    with big.open("wb") as f:
        f.truncate(65 << 20)  # sparse
    _assert_usage_error(run_hcdbg("trace", "hello", "--mem", "64M", "--dtb", str(big)), "--dtb", "--mem")


def test_a_script_header_naming_dev_zero_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "s.calls"
    script.write_text('{"hcdbg": 1, "guest": {"name": "hello"}, "machine": {"initrd": "/dev/zero"}}\n')
    _assert_usage_error(run_hcdbg("replay", str(script), timeout=60), "not a regular file")


def test_a_path_component_too_long_is_one_error_line() -> None:
    _assert_usage_error(run_hcdbg("trace", "a" * 300), "no such file")
    for args in (["trace", "/tmp/" + "a" * 300], ["trace", "hello", "--dtb", "b" * 300]):
        _assert_usage_error(run_hcdbg(*args), "too long")


# --- guest images ---------------------------------------------------------------------------

def _elf(tmp_path: Path, **fields: int) -> str:
    """hello.elf with ELF header fields (e_phoff) or its first program header's (p_offset,
    p_filesz, p_memsz, p_paddr) replaced."""
    from conftest import guest
    data = bytearray(guest("hello").read_bytes())
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    at = {"e_phoff": 0x20, "p_offset": phoff + 0x08, "p_paddr": phoff + 0x18,
          "p_filesz": phoff + 0x20, "p_memsz": phoff + 0x28}
    for name, value in fields.items():
        struct.pack_into("<Q", data, at[name], value)
    return _write(tmp_path, bytes(data), "crafted.elf")


@pytest.mark.parametrize("fields", [
    {"e_phoff": (1 << 63) - 8}, {"e_phoff": (1 << 64) - 8}, {"p_offset": (1 << 63) - 1},
    {"p_filesz": (1 << 63) - 1}, {"p_filesz": 1 << 40},
    {"p_paddr": 0x4800_0000 - 0x10, "p_filesz": 0x40, "p_memsz": 0x10},
    {"p_paddr": (1 << 64) - 0x10}, {"p_paddr": 0x07FF_FFF0},
], ids=["phoff-2**63", "phoff-2**64", "offset-2**63", "filesz-2**63", "filesz-1T", "memsz-under-filesz-at-ram-end",
        "paddr-wraps", "paddr-end-of-flash"])
def test_crafted_elf_is_one_error_line(tmp_path: Path, fields: dict) -> None:
    _assert_usage_error(run_hcdbg("trace", _elf(tmp_path, **fields), timeout=60))


def _raw(tmp_path: Path) -> str:
    return _write(tmp_path, struct.pack("<I", 0x14000000), "loop.bin")  # b .


@pytest.mark.parametrize("args, needle", [
    (["--load=-4"], "outside RAM"),
    (["--load", "0xfffffffffffffffc"], "outside RAM"),
    (["--load", "0x10000000000000000"], "--load"),
    (["--entry", "0x10000000000000000"], "--entry"),
    (["--entry", str(-(1 << 63) - 1)], "--entry"),
    (["--max-insns", "-5"], "--max-insns"),
    (["--max-insns", "0x10000000000000000"], "--max-insns"),
    (["--mem", "infG"], "--mem"),
    (["--mem", "1e400M"], "--mem"),
    (["--mem", "nanM"], "--mem"),
    (["--mem", "-1G"], "--mem"),
    (["--mem", "٣G"], "--mem"),
    (["--smp", "٣"], "--smp"),
    (["--quantum", "٣"], "--quantum"),
    (["--psci-version", "١.١"], "--psci-version"),
    (["--seed", "²"], "--seed"),
])
def test_bad_numeric_options(tmp_path: Path, args: list[str], needle: str) -> None:
    r = run_hcdbg("trace", _raw(tmp_path), "--max-insns", "1000", *args, timeout=60)
    assert r.returncode == 2 and "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert needle in r.stderr.splitlines()[-1], r.stderr


@pytest.mark.parametrize("megabytes", [120, 200])
def test_a_memory_limit_too_low_is_one_error_line(megabytes: int) -> None:
    """Unicorn exits the process ("Could not allocate dynamic translator buffer", status 1)
    when it cannot map its translation buffer; hcdbg checks first and says so. 120 MiB
    leaves no room for the guest's RAM, 200 none for the translation buffer after it (hello
    ran under 300 MiB on the merged tree, under 250 it did not: the boundary moves with
    what is imported, so these stay well below it)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, megabytes << 20))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "hcdbg", "trace", "hello"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=60, preexec_fn=limit)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hcdbg:") and "memory" in lines[0], r.stderr


def test_a_memory_limit_with_room_runs() -> None:
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "hcdbg", "trace", "hello"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120, preexec_fn=limit)
    assert r.returncode == 0, r.stderr


def test_a_memory_node_whose_name_is_not_utf8_is_replaced(tmp_path: Path) -> None:
    """Found by test_input_fuzz: /memory@\\x7f\\xff\\xff\\xff0000 reached libfdt as a str it refused."""
    from hcdbg.machine.fdt import build_dtb
    data = build_dtb(ram_size=128 << 20, mpidrs=(0,), conduit="hvc")
    name = b"memory@40000000"
    at = data.index(name) + len(b"memory@")
    data = data[:at] + b"\x7f\xff\xff\xff" + data[at + 4:]
    r = run_hcdbg("trace", "hello", "--dtb", _write(tmp_path, data), timeout=60)
    assert r.returncode == 0, r.stderr
