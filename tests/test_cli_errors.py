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
])
def test_bad_machine_options(args: list[str], needle: str) -> None:
    result = run_hcdbg("trace", "hello", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert needle in result.stderr


def test_raw_binary_needs_a_load_address(tmp_path: Path) -> None:
    raw = tmp_path / "loop.bin"
    raw.write_bytes(struct.pack("<I", 0x14000000))  # b .
    _assert_usage_error(run_hcdbg("trace", str(raw)), "--load")
