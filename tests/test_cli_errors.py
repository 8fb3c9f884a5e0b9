"""Bad input on the command line: one clear error line, exit status 2, never a traceback."""
from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from conftest import guest, run_hcdbg


def _assert_usage_error(result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_file(tmp_path: Path) -> None:
    _assert_usage_error(run_hcdbg("trace", str(tmp_path / "nope.elf")), "nope.elf", "no such file")


def test_unknown_guest_name_lists_bundled_ones() -> None:
    _assert_usage_error(run_hcdbg("trace", "no-such-guest"), "no-such-guest", "psci-tour")


def test_non_aarch64_elf() -> None:
    host_elf = Path(shutil.which("ls") or "/bin/ls").resolve()
    _assert_usage_error(run_hcdbg("trace", str(host_elf)), "not AArch64")


def test_truncated_elf(tmp_path: Path) -> None:
    data = guest("hello").read_bytes()
    cut = tmp_path / "cut.elf"
    cut.write_bytes(data[: len(data) // 3])
    _assert_usage_error(run_hcdbg("trace", str(cut)), "cut.elf")


def test_segment_outside_ram(tmp_path: Path) -> None:
    data = bytearray(guest("hello").read_bytes())
    # Move the first program header's physical address to 0x0900_0000 (the UART: neither
    # RAM nor the flash banks):
    # e_phoff at 0x20, p_paddr at +0x18 in an ELF64 program header.
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    struct.pack_into("<Q", data, phoff + 0x18, 0x0900_0000)
    bad = tmp_path / "low.elf"
    bad.write_bytes(bytes(data))
    _assert_usage_error(run_hcdbg("trace", str(bad)), "outside RAM")


@pytest.mark.parametrize("args, needle", [
    (["--smp", "0"], "--smp"),
    (["--smp", "999"], "--smp"),
    (["--mem", "1M"], "--mem"),
    (["--mem", "lots"], "--mem"),
    (["--psci-version", "2.7"], "--psci-version"),
    # QEMU 7.2 target/arm/psci.c answers QEMU_PSCI_VERSION_1_1 only
    (["--profile", "qemu", "--psci-version", "1.0"], "offers 1.1"),
])
def test_bad_machine_options(args: list[str], needle: str) -> None:
    result = run_hcdbg("trace", "hello", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert needle in result.stderr


def test_raw_binary_needs_no_load_address(tmp_path: Path) -> None:
    """As QEMU's -kernel: RAM + 0x80000 (tests/test_kernel_boot.py has the whole layout)."""
    raw = tmp_path / "loop.bin"
    raw.write_bytes(struct.pack("<I", 0x14000000))  # b .
    r = run_hcdbg("trace", str(raw), "--max-insns", "1000")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "instruction limit reached" in r.stderr and "0x40080000" in r.stderr


# --- --bios, --initrd, --dtb, --uart-input ------------------------------------------------------

def _fdt(tmp_path: Path, method: str = "hvc") -> Path:
    import libfdt

    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property_u32("#address-cells", 2)
        sw.property_u32("#size-cells", 2)
        with sw.add_node("psci"):
            sw.property_string("method", method)
    fdt = sw.as_fdt()
    fdt.pack()
    path = tmp_path / f"{method}.dtb"
    path.write_bytes(bytes(fdt.as_bytearray()))
    return path


def _file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    with path.open("wb") as f:
        f.truncate(size)  # sparse: a large file costs no disk
    return path


@pytest.mark.parametrize("make, args, needles", [
    (lambda t: t / "none.bin", lambda p: ["--bios", str(p)], ["--bios", "none.bin", "no such file"]),
    (lambda t: _file(t, "empty.bin", 0), lambda p: ["--bios", str(p)], ["--bios", "empty file"]),
    (lambda t: _file(t, "huge.bin", 65 << 20), lambda p: ["--bios", str(p)], ["--bios", "64 MiB flash bank"]),
    (lambda t: _file(t, "fw.bin", 4096), lambda p: ["hello", "--bios", str(p)], ["--bios", "without a GUEST"]),
    (lambda t: _file(t, "fw.bin", 4096), lambda p: ["--bios", str(p), "--load", "0"], ["--bios", "--load"]),
    (lambda t: t / "none.img", lambda p: ["hello", "--initrd", str(p)], ["--initrd", "no such file"]),
    (lambda t: _file(t, "empty.img", 0), lambda p: ["hello", "--initrd", str(p)], ["--initrd", "empty file"]),
    (lambda t: _file(t, "big.img", 20 << 20), lambda p: ["hello", "--mem", "16M", "--initrd", str(p)],
     ["--initrd", "do not fit", "--mem"]),
    (lambda t: _file(t, "rd.img", 4096), lambda p: ["--bios", str(p), "--initrd", str(p)],
     ["--initrd", "needs a kernel"]),
    (lambda t: t / "none.dtb", lambda p: ["hello", "--dtb", str(p)], ["--dtb", "no such file"]),
    (lambda t: _file(t, "empty.dtb", 0), lambda p: ["hello", "--dtb", str(p)], ["--dtb", "empty file"]),
    (lambda t: _file(t, "zero.dtb", 4096), lambda p: ["hello", "--dtb", str(p)],
     ["--dtb", "not a flattened device tree"]),
    (lambda t: t / "cut.dtb", lambda p: ["hello", "--dtb", str(p)], ["--dtb", "truncated"]),
    (lambda t: _fdt(t, "hvc"), lambda p: ["hello", "--dtb", str(p), "--conduit", "smc"],
     ["--conduit smc", "method = \"hvc\""]),
    (lambda t: _fdt(t, "svc"), lambda p: ["hello", "--dtb", str(p)], ["--dtb", "\"svc\""]),
    (lambda t: t, lambda p: ["hello", "--uart-input", "bad \\x4"], ["--uart-input", "bad escape"]),
], ids=["bios-missing", "bios-empty", "bios-too-big", "bios-and-guest", "bios-and-load", "initrd-missing",
        "initrd-empty", "initrd-too-big", "initrd-with-bios", "dtb-missing", "dtb-empty", "dtb-not-fdt",
        "dtb-truncated", "dtb-conduit-contradiction", "dtb-bad-method", "uart-input-escape"])
def test_bad_boot_files(tmp_path: Path, make, args, needles: list[str]) -> None:
    path = make(tmp_path)
    if path.name == "cut.dtb":
        whole = _fdt(tmp_path).read_bytes()
        path.write_bytes(whole[: len(whole) - 8])
    _assert_usage_error(run_hcdbg("trace", *args(path)), *needles)


def test_explain_an_unknown_name() -> None:
    # `hcdbg explain` needs no guest; an unknown name is a usage error, with suggestions
    _assert_usage_error(run_hcdbg("explain", "PSCI_CPU_OM"), "PSCI_CPU_OM", "did you mean")
