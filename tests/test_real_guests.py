"""Unmodified real guests from Debian's archive (scripts/fetch-guests): U-Boot for QEMU's virt
board (package u-boot-qemu) and the arm64 Linux 6.1 kernel boot on hcdbg's board and make
the firmware calls they make under QEMU 7.2 (`-M virt -cpu cortex-a57`).

How the expected lists were obtained: scripts/qemu-psci-calls runs QEMU 7.2.22 (Debian
1:7.2+dfsg-7+deb12u18+b3) with its gdbstub, breaks on every HVC #0 / SMC #0 of the guest
binary, and prints x0..x3 before and after QEMU's own TCG PSCI answered (run on 2026-12-03).
Its lines are copied below (QEMU_*); test_qemu_still_answers_so re-runs it when QEMU is
installed. `qemu-system-aarch64 ... -d int` agrees on the counts ("handled as PSCI call":
6 for a whole Linux boot to its VFS panic, 3 for U-Boot's reset).
"""
from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import libfdt
import pytest

from conftest import ROOT, guest, run_hcdbg
from hcdbg.machine import loader
from hcdbg.machine.machine import Machine, MachineConfig
from hcdbg.smccc import catalog


def _cache_paths() -> dict[str, Path]:
    """Where scripts/fetch-guests puts the guests (it prints uboot=PATH and linux=PATH)."""
    out = subprocess.run([str(ROOT / "scripts/fetch-guests"), "--print"], capture_output=True,
                         text=True, check=True).stdout
    return {key: Path(value) for key, value in (ln.split("=", 1) for ln in out.splitlines())}


_CACHE = _cache_paths()
_SYSTEM_UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")  # an installed u-boot-qemu
UBOOT_BIN = _CACHE["uboot"] if _CACHE["uboot"].exists() else _SYSTEM_UBOOT
UBOOT_ELF = UBOOT_BIN.with_name("uboot.elf")
LINUX = Path(os.environ.get("HCDBG_LINUX_IMAGE", _CACHE["linux"]))
needs_uboot = pytest.mark.skipif(not UBOOT_BIN.exists(), reason=(
    f"no Debian U-Boot at {_CACHE['uboot']} or {_SYSTEM_UBOOT} (scripts/fetch-guests fetches it)"))
needs_linux = pytest.mark.skipif(not LINUX.exists(), reason=f"no kernel at {LINUX} (scripts/fetch-guests fetches it)")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="no qemu-system-aarch64")
_LONG = ("--max-insns", "5000000000")  # a runaway guard only: U-Boot needs ~50M to its prompt


def _calls(stderr: str) -> list[str]:
    """hcdbg's call lines without the vCPU tag: 'hvc#0 PSCI_VERSION() = 0x10001 (1.1)'."""
    return [ln.split("] ", 1)[1] for ln in stderr.splitlines() if ln.startswith("[vcpu0] ")]


_QEMU_LINE = re.compile(r"^(hvc|smc) EL1 (\S+) x0=(\S+) x1=(\S+) \S+ \S+ -> (?:x0=(\S+)|\(QEMU exited\))")
_HCDBG_LINE = re.compile(r"^(hvc|smc)#0 (\w+)\((?:\w+=(0x[0-9a-f]+))?[^)]*\) = (?:(-?(?:0x)?[0-9a-f]+)|\(does not return)")


def _qemu_calls(lines: list[str]) -> list[tuple[str, int, int, int | None]]:
    """(conduit, function ID, x1, x0 after) of scripts/qemu-psci-calls lines; None: it did not return."""
    out = []
    for ln in lines:
        m = _QEMU_LINE.match(ln)
        assert m, ln
        out.append((m[1], int(m[3], 16), int(m[4], 16), None if m[5] is None else int(m[5], 16)))
    return out


def _hcdbg_calls(stderr: str) -> list[tuple[str, int, int, int | None]]:
    """The same tuple from hcdbg's trace lines (x1 only for a call with arguments)."""
    out = []
    for text in _calls(stderr):
        m = _HCDBG_LINE.match(text)
        assert m, text
        fid = catalog.find(m[2])[0].fid
        ret = None if m[4] is None else int(m[4], 0) & 0xFFFF_FFFF_FFFF_FFFF
        out.append((m[1], fid, int(m[3], 16) if m[3] else 0, ret))
    return out


# --- Debian's U-Boot 2023.01 (u-boot-qemu) -------------------------------------------------

# scripts/qemu-psci-calls --bios u-boot.bin --reloc 0x47ef7000 --mem 128M --input '\nreset\n'
# (U-Boot relocates itself to 0x47ef7000 with 128 MiB: its `bdinfo` says so under QEMU.)
QEMU_UBOOT_RESET = [
    "hvc EL1 PSCI_VERSION x0=0x84000000 x1=0x0 x2=0x0 x3=0x0 -> x0=0x10001 x1=0x0 x2=0x0 x3=0x0",
    "hvc EL1 PSCI_FEATURES x0=0x8400000a x1=0xc4000012 x2=0x0 x3=0x0 -> x0=0xffffffffffffffff x1=0xc4000012 x2=0x0 x3=0x0",
    "hvc EL1 PSCI_SYSTEM_RESET x0=0x84000009 x1=0x0 x2=0x0 x3=0x0 -> (QEMU exited)",
]
# ... --input '\npoweroff\n'
QEMU_UBOOT_POWEROFF = ["hvc EL1 PSCI_SYSTEM_OFF x0=0x84000008 x1=0x0 x2=0x0 x3=0x0 -> (QEMU exited)"]


@needs_uboot
@pytest.mark.parametrize("boot", [["--bios", str(UBOOT_BIN)], [str(UBOOT_ELF)]], ids=["bios", "elf"])
def test_uboot_reaches_its_prompt_and_poweroff_typed_there_is_system_off(boot: list[str]) -> None:
    # "\n" stops the autoboot countdown, then `poweroff` is typed at the => prompt.
    r = run_hcdbg("trace", *boot, "--uart-input", r"\npoweroff\n", *_LONG)
    assert r.returncode == 0, r.stderr[-2000:]  # a clean exit: the guest powered off
    assert "U-Boot 2023.01" in r.stdout
    assert "DRAM:  128 MiB" in r.stdout  # it read our device tree's /memory
    assert "In:    pl011@9000000" in r.stdout  # ... and /chosen/stdout-path
    assert "=> poweroff" in r.stdout
    assert _hcdbg_calls(r.stderr) == _qemu_calls(QEMU_UBOOT_POWEROFF)
    assert r.stderr.splitlines()[-1] == "+++ guest powered off (PSCI_SYSTEM_OFF)"


@needs_uboot
@pytest.mark.parametrize("boot", [["--bios", str(UBOOT_BIN)], [str(UBOOT_BIN), "--load", "0"]],
                         ids=["bios", "load-0"])
def test_uboot_reset_makes_qemus_three_calls(boot: list[str]) -> None:
    r = run_hcdbg("trace", *boot, "--profile", "qemu", "--no-reboot", "--input", r"\nreset\n", *_LONG)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "=> reset" in r.stdout
    assert _hcdbg_calls(r.stderr) == _qemu_calls(QEMU_UBOOT_RESET)


@needs_uboot
def test_uboot_reset_with_kvms_answers() -> None:
    # KVM implements SYSTEM_RESET2 (PSCI 1.1), so PSCI_FEATURES says 0; U-Boot's `reset` is
    # a cold reset and uses SYSTEM_RESET anyway.
    r = run_hcdbg("trace", "--bios", str(UBOOT_BIN), "--no-reboot", "--uart-input", r"\nreset\n", *_LONG)
    assert _calls(r.stderr) == ["hvc#0 PSCI_VERSION() = 0x10001 (1.1)",
                                "hvc#0 PSCI_FEATURES(psci_func_id=0xc4000012) = 0x0",
                                "hvc#0 PSCI_SYSTEM_RESET() = (does not return: system reset)"]


@needs_uboot
def test_a_uboot_session_typed_at_the_prompt_replays(tmp_path: Path) -> None:
    # Record typing `reset` into U-Boot's console at the REPL; the replay types it again
    # and U-Boot makes the same three calls (the recording's header keeps --bios etc.).
    rec = tmp_path / "uboot.calls"
    r = run_hcdbg("--batch", "--bios", str(UBOOT_BIN), "--no-reboot", "--record", str(rec),
                  "-ex", r'uart send "\nreset\n"', "-ex", "c")
    assert r.returncode == 0, r.stdout[-2000:]
    again = run_hcdbg("replay", str(rec), "-v")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "=> reset" in again.stdout
    assert _calls(again.stderr) == [
        "hvc#0 PSCI_VERSION() = 0x10001 (1.1)  <replay handle>",
        "hvc#0 PSCI_FEATURES(psci_func_id=0xc4000012) = 0x0  <replay handle>",
        "hvc#0 PSCI_SYSTEM_RESET() = (does not return: system reset)  <replay handle>"]


# --- Debian's Linux 6.1 arm64 kernel (linux-image-*-arm64) -----------------------------------

# No GIC or timer in hcdbg's own tree: the kernel panics in time_init ("Unable to initialise
# architected timer") after its firmware discovery, which is what these tests are about.
LINUX_ARGS = ("--mem", "512M", "--append", "earlycon=pl011,0x9000000", "--max-insns", "100000000")

# scripts/qemu-psci-calls Image --mem 512M   (QEMU appends nokaslr; -M virt: conduit HVC)
QEMU_LINUX = [
    "hvc EL1 PSCI_VERSION x0=0x84000000 x1=0x0 x2=0x0 x3=0x0 -> x0=0x10001 x1=0x0 x2=0x0 x3=0x0",
    "hvc EL1 PSCI_MIGRATE_INFO_TYPE x0=0x84000006 x1=0x0 x2=0x0 x3=0x0 -> x0=0x2 x1=0x0 x2=0x0 x3=0x0",
    "hvc EL1 PSCI_FEATURES x0=0x8400000a x1=0x80000000 x2=0x0 x3=0x0 -> x0=0xffffffffffffffff x1=0x80000000 x2=0x0 x3=0x0",
    "hvc EL1 PSCI_FEATURES x0=0x8400000a x1=0xc4000001 x2=0x0 x3=0x0 -> x0=0x0 x1=0xc4000001 x2=0x0 x3=0x0",
    "hvc EL1 PSCI_FEATURES x0=0x8400000a x1=0xc400000e x2=0x0 x3=0x0 -> x0=0xffffffffffffffff x1=0xc400000e x2=0x0 x3=0x0",
    "hvc EL1 PSCI_FEATURES x0=0x8400000a x1=0xc4000012 x2=0x0 x3=0x0 -> x0=0xffffffffffffffff x1=0xc4000012 x2=0x0 x3=0x0",
]
# scripts/qemu-psci-calls Image --mem 512M --conduit smc   (-M virt,virtualization=on: QEMU's
# PSCI conduit is SMC and the kernel starts at EL2; the HVCs to its own EL2 stub are left out)
QEMU_LINUX_SMC = [ln.replace("hvc ", "smc ", 1) for ln in QEMU_LINUX]


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


QEMU_FIRMWARE_LINES = ["psci: probing for conduit method from DT.", "psci: PSCIv1.1 detected in firmware.",
                       "psci: Using standard PSCI v0.2 function IDs", "psci: Trusted OS migration not required",
                       "psci: SMC Calling Convention v1.0"]


@needs_linux
@pytest.mark.parametrize("conduit, expected", [("hvc", QEMU_LINUX), ("smc", QEMU_LINUX_SMC)])
def test_linux_with_qemus_answers_makes_exactly_qemus_six_calls(conduit: str, expected: list[str]) -> None:
    r = run_hcdbg("trace", str(LINUX), *LINUX_ARGS, "--profile", "qemu", "--conduit", conduit)
    assert "Booting Linux on physical CPU 0x0000000000" in r.stdout
    assert _hcdbg_calls(r.stderr) == _qemu_calls(expected)
    assert _firmware_lines(r.stdout) == QEMU_FIRMWARE_LINES


# Under KVM's answers (SMCCC 1.1, TRNG, the KVM vendor-hyp service), derived from the Linux 6.1
# sources, in call order:
#   drivers/firmware/psci/psci.c  psci_probe: PSCI_VERSION ("PSCIv1.1 detected"), then
#     psci_init_migrate: MIGRATE_INFO_TYPE (2: "Trusted OS migration not required"),
#     psci_init_smccc: PSCI_FEATURES(SMCCC_VERSION) -> 0, so SMCCC_VERSION -> 1.1, then
#       arm_smccc_version_init (drivers/firmware/smccc/smccc.c) -> smccc_probe_trng
#       (arch/arm64/include/asm/archrandom.h): TRNG_VERSION; "SMC Calling Convention v1.1",
#     psci_init_cpu_suspend / _system_suspend / _system_reset2: PSCI_FEATURES of CPU_SUSPEND
#       (0xc4000001), SYSTEM_SUSPEND (0xc400000e), SYSTEM_RESET2 (0xc4000012);
#   arch/arm64/kernel/setup.c setup_arch -> kvm_init_hyp_services (drivers/firmware/smccc/
#     kvm_guest.c, HVC conduit only): VENDOR_HYP_CALL_UID, KVM's UID -> VENDOR_HYP_KVM_FEATURES;
#   boot CPU capabilities (arch/arm64/kernel/proton-pack.c): has_spectre_v2 ->
#     ARCH_FEATURES(WORKAROUND_1), has_spectre_v4 -> ARCH_FEATURES(WORKAROUND_2) (Spectre-BHB
#     asks no firmware on a Cortex-A57: spectre_bhb_loop_affected lists it);
#   the entropy pool seeds from TRNG_RND64 (not listed: how often depends on the pool);
#   time_init -> pv_time_init (arch/arm64/kernel/paravirt.c has_pv_steal_clock):
#     ARCH_FEATURES(PV_TIME_FEATURES), and PV_TIME_FEATURES(PV_TIME_ST) only if that said 0.
_KVM_PROBE = [
    ("PSCI_VERSION", None), ("PSCI_MIGRATE_INFO_TYPE", None), ("PSCI_FEATURES", 0x8000_0000),
    ("SMCCC_VERSION", None), ("TRNG_VERSION", None), ("PSCI_FEATURES", 0xC400_0001),
    ("PSCI_FEATURES", 0xC400_000E), ("PSCI_FEATURES", 0xC400_0012), ("VENDOR_HYP_CALL_UID", None),
    ("VENDOR_HYP_KVM_FEATURES", None), ("SMCCC_ARCH_FEATURES", 0x8000_8000),
    ("SMCCC_ARCH_FEATURES", 0x8000_7FFF)]
_PV_TIME = [("SMCCC_ARCH_FEATURES", 0xC500_0020)]


def _probe_calls(stderr: str, conduit: str = "hvc") -> list[tuple[str, int | None]]:
    """(name, x1 if the call has arguments) of each call but the entropy pool's TRNG_RND64."""
    out = []
    for c, fid, x1, _ in _hcdbg_calls(stderr):
        assert c == conduit
        name = catalog.lookup(fid).name
        if name != "TRNG_RND64":
            out.append((name, x1 if catalog.lookup(fid).args else None))
    return out


@needs_linux
def test_linux_with_kvms_answers_goes_on_to_smccc_1_1_services() -> None:
    r = run_hcdbg("trace", str(LINUX), *LINUX_ARGS)
    assert _firmware_lines(r.stdout) == [
        "psci: probing for conduit method from DT.",
        "psci: PSCIv1.1 detected in firmware.",
        "psci: Using standard PSCI v0.2 function IDs",
        "psci: Trusted OS migration not required",
        "psci: SMC Calling Convention v1.1",
        # KVM's vendor-hyp UID (reference §6 row 15), features 0x3 (bit 1: PTP; §6 row 16).
        "smccc: KVM: hypervisor services detected (0x00000000 0x00000000 0x00000000 0x00000003)"]
    # hcdbg's device tree describes the generic timer (arm,armv8-timer), so time_init finds
    # it and Linux goes on to pv_time_init (arch/arm64/kernel/paravirt.c): with KVM's PV time
    # on, ARCH_FEATURES(PV_TIME_FEATURES) = 0, then PV_TIME_FEATURES(PV_TIME_ST) = -1 (no IPA).
    assert _probe_calls(r.stderr) == _KVM_PROBE + _PV_TIME + [("PV_TIME_FEATURES", 0xC500_0021)]
    assert any(" TRNG_RND64(" in c for c in _calls(r.stderr))  # KVM offers TRNG: Linux seeds from it
    assert "arch_timer: cp15 timer(s) running at 62.50MHz (virt)." in r.stdout
    assert "Unable to initialise architected timer" not in r.stdout


@needs_linux
def test_linux_with_kvms_answers_over_smc_skips_the_kvm_services() -> None:
    # kvm_init_hyp_services returns at once unless the conduit is HVC (kvm_guest.c).
    r = run_hcdbg("trace", str(LINUX), *LINUX_ARGS, "--conduit", "smc")
    assert _probe_calls(r.stderr, "smc") == [c for c in _KVM_PROBE if not c[0].startswith("VENDOR_HYP")] + \
        _PV_TIME + [("PV_TIME_FEATURES", 0xC500_0021)]  # pv_time_init uses the SMCCC conduit
    assert "psci: SMC Calling Convention v1.1" in _firmware_lines(r.stdout)


@pytest.fixture(scope="module")
def qemu_dtb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The device tree QEMU 7.2 gives `-M virt -cpu cortex-a57 -m 512M` (GIC, timer, PCIe, ...)."""
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("no qemu-system-aarch64 to dump its device tree")
    path = tmp_path_factory.mktemp("dtb") / "virt.dtb"
    subprocess.run(["qemu-system-aarch64", "-M", f"virt,dumpdtb={path}", "-cpu", "cortex-a57", "-m", "512M",
                    "-display", "none", "-nodefaults"], capture_output=True, check=True, timeout=30)
    return path


def _with_method(dtb: Path, method: str, tmp_path: Path) -> Path:
    fdt = libfdt.Fdt(dtb.read_bytes())
    fdt.setprop_str(fdt.path_offset("/psci"), "method", method)
    out = tmp_path / f"virt-{method}.dtb"
    out.write_bytes(bytes(fdt.as_bytearray()))
    return out


@needs_linux
def test_linux_on_qemus_own_tree_with_smc_method_calls_through_smc(qemu_dtb: Path, tmp_path: Path) -> None:
    # QEMU's tree, its /psci method patched to "smc": the conduit comes from the tree.
    r = run_hcdbg("trace", str(LINUX), *LINUX_ARGS, "--profile", "qemu",
                  "--dtb", str(_with_method(qemu_dtb, "smc", tmp_path)))
    assert _hcdbg_calls(r.stderr) == _qemu_calls(QEMU_LINUX_SMC)
    assert _firmware_lines(r.stdout) == QEMU_FIRMWARE_LINES


@needs_linux
def test_linux_on_qemus_own_tree_reaches_pv_time(qemu_dtb: Path) -> None:
    # With QEMU's tree the kernel finds its timer (the GIC and PCIe regions read harmlessly),
    # so it gets past time_init to pv_time_init.
    r = run_hcdbg("trace", str(LINUX), "--mem", "512M", "--append", "earlycon=pl011,0x9000000",
                  "--max-insns", "150000000", "--dtb", str(qemu_dtb))
    assert "arch_timer: cp15 timer(s) running at 62.50MHz (virt)." in r.stdout
    calls = _probe_calls(r.stderr)
    # A fresh KVM VM has PV time on (KVM_REG_ARM_STD_HYP_BMAP bit 0 by default, reference
    # §4.5), so ARCH_FEATURES(PV_TIME_FEATURES) = 0 and Linux asks PV_TIME_FEATURES(PV_TIME_ST):
    # the 14 probe calls. No stolen-time IPA was given, so that answer is -1.
    assert calls[:14] == _KVM_PROBE + _PV_TIME + [("PV_TIME_FEATURES", 0xC500_0021)]
    st = next(ln for ln in _calls(r.stderr) if "PV_TIME_FEATURES(" in ln)
    assert st.endswith("= -1 NOT_SUPPORTED")


@needs_linux
@needs_qemu
def test_linux_console_firmware_lines_equal_qemus() -> None:
    try:
        qemu = subprocess.run(
            ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512M", "-display", "none",
             "-monitor", "none", "-serial", "stdio", "-nodefaults", "-no-reboot", "-kernel", str(LINUX),
             "-append", "earlycon=pl011,0x9000000"],
            capture_output=True, text=True, timeout=6, stdin=subprocess.DEVNULL).stdout
    except subprocess.TimeoutExpired as exc:  # QEMU's kernel boots on (it has a timer): stop it
        qemu = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    assert _firmware_lines(qemu) == QEMU_FIRMWARE_LINES


@needs_qemu
@pytest.mark.parametrize("guest, argv, expected", [
    ("linux", ["--mem", "512M", "--max-calls", "6"], QEMU_LINUX),
    ("linux", ["--mem", "512M", "--conduit", "smc", "--max-calls", "7"], QEMU_LINUX_SMC),
    ("uboot", ["--mem", "128M", "--reloc", "0x47ef7000", "--input", r"\nreset\n"], QEMU_UBOOT_RESET),
], ids=["linux-hvc", "linux-smc", "uboot-reset"])
def test_qemu_still_answers_so(guest: str, argv: list[str], expected: list[str]) -> None:
    """The oracle itself, re-run: the lists above are what QEMU says."""
    path = LINUX if guest == "linux" else UBOOT_BIN
    if not path.exists():
        pytest.skip(f"no {guest} guest at {path} (scripts/fetch-guests)")
    boot = [str(path)] if guest == "linux" else ["--bios", str(path)]
    # --seconds: room for a loaded machine; each run ends at its last call anyway. U-Boot's
    # input is typed into QEMU's serial port before U-Boot runs, and once in a full-suite run
    # QEMU's U-Boot missed it (not reproduced alone): one more try before failing.
    for _ in range(2):
        out = subprocess.run([str(ROOT / "scripts/qemu-psci-calls"), *boot, *argv, "--seconds", "40"],
                             capture_output=True, text=True, timeout=90).stdout
        got = [ln for ln in out.splitlines() if "own EL2 stub" not in ln]
        if got == expected:
            break
    assert got == expected


# --- the boot layout and board pieces such guests rely on -----------------------------------

def _tree(machine) -> libfdt.Fdt:
    size = int.from_bytes(machine.read_memory(machine.dtb_address + 4, 4), "big")  # FDT totalsize
    return libfdt.Fdt(machine.read_memory(machine.dtb_address, size))


def _chosen(fdt: libfdt.Fdt, name: str) -> int | None:
    prop = fdt.getprop(fdt.path_offset("/chosen"), name, [libfdt.FDT_ERR_NOTFOUND])
    return None if prop == -libfdt.FDT_ERR_NOTFOUND else int.from_bytes(bytes(prop), "big")


@needs_linux
@pytest.mark.parametrize("mem, initrd, initrd_at, dtb_at", [
    # Measured with QEMU 7.2 and this Image (2026-12-03): -initrd of 3,000,000 bytes;
    # /chosen/linux,initrd-start from `-M virt,dumpdtb=F`, the DTB address (x0) read from the
    # boot stub's literal at 0x40000018 through the gdbstub (-S).
    (128, 3_000_000, 0x4400_0000, 0x4440_0000),
    (512, 3_000_000, 0x4800_0000, 0x4840_0000),
    (512, 0, None, 0x4800_0000),
    (64, 0, None, 0x4240_0000),  # half of RAM is below the image's end: DTB right above it
])
def test_initrd_and_device_tree_go_where_qemu_puts_them(mem: int, initrd: int, initrd_at: int | None,
                                                        dtb_at: int) -> None:
    data = os.urandom(initrd) if initrd else None
    machine = Machine(loader.load(LINUX), MachineConfig(ram_size=mem << 20, initrd=data))
    assert machine.dtb_address == dtb_at == machine.vcpus[0].read("x0")
    fdt = _tree(machine)
    assert _chosen(fdt, "linux,initrd-start") == initrd_at
    if data is not None:
        assert _chosen(fdt, "linux,initrd-end") == initrd_at + initrd
        assert machine.read_memory(initrd_at, initrd) == data


@needs_linux
def test_a_gzipped_linux_image_loads_as_the_image_does(tmp_path: Path) -> None:
    """Distributions ship `Image.gz`; QEMU's -kernel gunzips it (hw/arm/boot.c
    load_aarch64_image) and places it per the Image header inside."""
    packed = tmp_path / "Image.gz"
    packed.write_bytes(gzip.compress(LINUX.read_bytes(), compresslevel=1, mtime=0))
    image, gz = loader.load(LINUX, ram_size=512 << 20), loader.load(packed, ram_size=512 << 20)
    assert gz.kind == image.kind == "image" and gz.entry == image.entry == 0x4020_0000
    assert gz.segments == image.segments
    assert Machine(gz, MachineConfig(ram_size=512 << 20)).dtb_address == 0x4800_0000


def test_a_users_device_tree_gets_qemus_fixups_and_keeps_its_psci_method() -> None:
    """hw/arm/boot.c arm_load_dtb: every /memory node replaced by one for the board's RAM,
    /chosen created, bootargs and the initrd range set."""
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property_u32("#address-cells", 2)
        sw.property_u32("#size-cells", 2)
        for base in (0x4000_0000, 0x1_0000_0000):
            with sw.add_node(f"memory@{base:x}"):
                sw.property_string("device_type", "memory")
                sw.property("reg", (base << 64 | 1 << 30).to_bytes(16, "big"))
        with sw.add_node("psci"):
            sw.property_string("method", "smc")
    user = sw.as_fdt()
    user.pack()
    machine = Machine(loader.load(guest("hello")), MachineConfig(
        ram_size=256 << 20, bootargs="console=ttyAMA0", initrd=b"\x5a" * 4096, dtb=bytes(user.as_bytearray())))
    fdt = _tree(machine)
    assert fdt.path_offset("/memory@100000000", [libfdt.FDT_ERR_NOTFOUND]) == -libfdt.FDT_ERR_NOTFOUND
    reg = fdt.getprop(fdt.path_offset("/memory@40000000"), "reg")
    assert bytes(reg) == (0x4000_0000 << 64 | 256 << 20).to_bytes(16, "big")
    assert fdt.getprop(fdt.path_offset("/chosen"), "bootargs").as_str() == "console=ttyAMA0"
    start = _chosen(fdt, "linux,initrd-start")
    assert start == 0x4800_0000 and _chosen(fdt, "linux,initrd-end") == start + 4096
    assert fdt.getprop(fdt.path_offset("/psci"), "method").as_str() == "smc"


def test_other_virt_device_regions_read_harmlessly() -> None:
    machine = Machine(loader.load(guest("hello")))
    # PCIe config space (ECAM, low and the high one QEMU's tree points to): all-ones, the
    # "no device" of a config read (PCIe base spec: Vendor ID 0xFFFF).
    for ecam in (0x3F00_0000, 0x40_1000_0000):
        assert machine.read_memory(ecam, 4) == b"\xff" * 4
        assert machine.read_memory(ecam + 0x8000, 2) == b"\xff" * 2  # bus 0, device 1
    # GIC, RTC, fw_cfg, GPIO, virtio-mmio (MagicValue 0: no transport), PCIe windows: zero.
    for address in (0x0800_0000, 0x0801_0000, 0x0901_0000, 0x0902_0000, 0x0903_0000,
                    0x0A00_0000, 0x0A00_3E00, 0x1000_0000, 0x3EFF_0000, 0x80_0000_0000):
        assert machine.read_memory(address, 4) == b"\0" * 4, hex(address)


@needs_linux
def test_the_repl_reads_the_kernels_virtual_addresses_through_its_page_tables() -> None:
    # Stopped at Linux's first PSCI call, the MMU is on and pc is a kernel virtual address.
    # The word before it must be the kernel's own HVC #0, as in the Image file: the kernel
    # text is mapped at KIMAGE_VADDR 0xffff800008000000 + file offset (arm64 memory layout,
    # no KASLR without a seed).
    r = run_hcdbg("--batch", "-ex", "filter add PSCI_VERSION forward", "-ex", "c",
                  "-ex", "x/1wx $pc-4", "-ex", "x/2i $pc-4", str(LINUX), *LINUX_ARGS)
    assert r.returncode == 0, r.stdout[-2000:]
    m = re.search(r"^(0xffff8000[0-9a-f]{8}):\s+(0x[0-9a-f]{8})$", r.stdout, re.M)
    assert m, r.stdout[-3000:]
    va, word = int(m[1], 16), int(m[2], 16)
    image = LINUX.read_bytes()
    assert word == int.from_bytes(image[va - 0xFFFF_8000_0800_0000:][:4], "little") == 0xD400_0002
    assert f"{m[1]}:\thvc     #0" in r.stdout
