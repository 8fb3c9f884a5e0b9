"""Unmodified real firmware: Debian's U-Boot for QEMU's virt board (package u-boot-qemu,
installed by scripts/test) boots on hcdbg's board and talks PSCI to it."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_hcdbg

UBOOT_DIR = Path("/usr/lib/u-boot/qemu_arm64")
pytestmark = pytest.mark.skipif(not (UBOOT_DIR / "uboot.elf").exists(),
                                reason="Debian's u-boot-qemu is not installed (scripts/test installs it)")


def test_uboot_elf_boots_and_powers_off_through_psci() -> None:
    # "\n" stops the autoboot countdown; U-Boot's poweroff command is PSCI SYSTEM_OFF.
    r = run_hcdbg("trace", str(UBOOT_DIR / "uboot.elf"), "--input", r"\npoweroff\n",
                  "--max-insns", "5000000000")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "U-Boot 2023.01" in r.stdout
    assert "DRAM:  128 MiB" in r.stdout  # it read our device tree's /memory
    assert "In:    pl011@9000000" in r.stdout  # ... and /chosen/stdout-path
    assert "=> poweroff" in r.stdout
    assert r.stderr.splitlines()[-2].endswith("PSCI_SYSTEM_OFF() = (does not return: system off)")


def test_uboot_bin_in_flash_resets_through_psci() -> None:
    # The raw image QEMU's -bios takes, placed in the flash banks at 0. U-Boot's reset
    # command probes PSCI_VERSION and PSCI_FEATURES(SYSTEM_RESET2) before SYSTEM_RESET.
    r = run_hcdbg("trace", str(UBOOT_DIR / "u-boot.bin"), "--load", "0", "--no-reboot",
                  "--input", r"\nreset\n", "--max-insns", "5000000000")
    assert r.returncode == 0, r.stderr[-2000:]
    calls = [ln.split("] ", 1)[1] for ln in r.stderr.splitlines() if ln.startswith("[vcpu0]")]
    assert calls == ["hvc#0 PSCI_VERSION() = 0x10001 (1.1)",
                     "hvc#0 PSCI_FEATURES(psci_func_id=0xc4000012) = 0x0",
                     "hvc#0 PSCI_SYSTEM_RESET() = (does not return: system reset)"]
