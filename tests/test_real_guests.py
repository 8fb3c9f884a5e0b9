"""Unmodified real guests: Debian's U-Boot for QEMU's virt board (package u-boot-qemu) and
Debian's arm64 Linux kernel (scripts/fetch-linux), both set up by scripts/test, boot on
hcdbg's board and talk PSCI/SMCCC to it."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_hcdbg

UBOOT_DIR = Path("/usr/lib/u-boot/qemu_arm64")
needs_uboot = pytest.mark.skipif(not (UBOOT_DIR / "uboot.elf").exists(),
                                 reason="Debian's u-boot-qemu is not installed (scripts/test installs it)")


@needs_uboot
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


@needs_uboot
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


# --- Debian's Linux 6.1 arm64 kernel (scripts/fetch-linux) -----------------------------------

LINUX = Path(os.environ.get("HCDBG_LINUX_IMAGE",
                            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hcdbg/linux/Image"))
needs_linux = pytest.mark.skipif(not LINUX.exists(), reason=f"no kernel at {LINUX} (scripts/fetch-linux)")
# No GIC or timer here: the kernel panics ("Unable to initialise architected timer") after its
# firmware discovery, which is what these tests are about; 100M instructions get past it.
LINUX_ARGS = ("--mem", "512M", "--append", "earlycon=pl011,0x9000000", "--max-insns", "100000000")


def _firmware_lines(text: str) -> list[str]:
    """The kernel's psci:/smccc: messages, once (a console that registers later, or the
    panic, may print the log buffer again)."""
    lines: list[str] = []
    for ln in text.splitlines():
        if "] psci: " in ln or "] smccc: " in ln:
            msg = ln.split("] ", 1)[1]
            if msg in lines:
                break
            lines.append(msg)
    return lines


@needs_linux
def test_linux_discovers_kvm_style_firmware() -> None:
    r = run_hcdbg("trace", str(LINUX), *LINUX_ARGS)
    assert "Booting Linux on physical CPU 0x0000000000" in r.stdout
    assert _firmware_lines(r.stdout) == [
        "psci: probing for conduit method from DT.",
        "psci: PSCIv1.1 detected in firmware.",
        "psci: Using standard PSCI v0.2 function IDs",
        "psci: Trusted OS migration not required",
        "psci: SMC Calling Convention v1.1",
        # KVM's vendor-hyp UID (reference §6 row 15), features 0x3 (bit 1: PTP; §6 row 16).
        "smccc: KVM: hypervisor services detected (0x00000000 0x00000000 0x00000000 0x00000003)"]
    calls = [ln.split(" = ")[0].split(" ", 2)[2] for ln in r.stderr.splitlines() if ln.startswith("[vcpu0]")]
    assert calls[:4] == ["PSCI_VERSION()", "PSCI_MIGRATE_INFO_TYPE()",
                         "PSCI_FEATURES(psci_func_id=0x80000000)", "SMCCC_VERSION()"]
    assert "VENDOR_HYP_CALL_UID()" in calls
    assert any(c.startswith("TRNG_RND64(") for c in calls)  # KVM offers TRNG: Linux seeds from it


@needs_linux
@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="no qemu-system-aarch64")
def test_linux_sees_the_same_firmware_under_qemu_profile_and_qemu() -> None:
    ours = run_hcdbg("trace", str(LINUX), *LINUX_ARGS, "--profile", "qemu")
    try:
        qemu = subprocess.run(
            ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512M", "-display", "none",
             "-monitor", "none", "-serial", "stdio", "-nodefaults", "-no-reboot", "-kernel", str(LINUX),
             "-append", "earlycon=pl011,0x9000000"],
            capture_output=True, text=True, timeout=6, stdin=subprocess.DEVNULL).stdout
    except subprocess.TimeoutExpired as exc:  # QEMU's kernel boots on (it has a timer): stop it
        qemu = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    theirs = _firmware_lines(qemu)
    assert "psci: SMC Calling Convention v1.0" in theirs  # QEMU: SMCCC_VERSION -> -1 (reference §5.2)
    assert _firmware_lines(ours.stdout) == theirs
