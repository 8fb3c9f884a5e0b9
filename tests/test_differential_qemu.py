"""hcdbg --profile qemu against QEMU itself: the same guest ELF, the same UART transcript.

QEMU 7.2's TCG PSCI emulation (Debian's qemu-system-arm, installed by scripts/test) is the
oracle for what `--profile qemu` answers. Calls QEMU does not answer are listed here, not
skipped: on plain `-M virt` the PSCI conduit is HVC and an SMC at EL1 is UNDEFINED (no EL3),
so those lines read `UNDEFINED` under both (the qemu profile delivers the same exception).
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import GUESTS, ROOT, run_hcdbg

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None,
                                reason="qemu-system-aarch64 not installed (scripts/test installs it)")

NAMES = [g["name"] for g in json.loads((GUESTS / "guests.json").read_text())]

#: Lines whose call QEMU does not answer (SMC is UNDEFINED on plain -M virt).
NOT_ANSWERED_BY_QEMU = {"conduits": ["PSCI_VERSION smc#0 -> UNDEFINED"]}

#: Lines (by prefix) left out of the comparison, and why. Every other line is still compared.
NOT_COMPARED_WITH_QEMU = {
    "cpu-race": ("RACE ", "QEMU 7.2's TCG CPU_ON only queues the power-on, so racers for one "
                          "target can all get SUCCESS (reference unicorn-aarch64.md, PSCI details); "
                          "QEMU is not the oracle for the race: tests/test_cpu_race.py checks it"),
}

#: Lines (by prefix) a guest's transcript must hold under both, so that a guest edited
#: into not making the comparison cannot pass it. exceptions: the external aborts of
#: accesses to 0x9001000, a hole in virt's map (ESR, and FAR with the MMU off and on), and
#: the PC alignment fault of a branch to a misaligned address.
MUST_SHOW = {"exceptions": ("LOAD esr=0x96000010 ", "STORE esr=0x96000050 ",
                            "FETCH esr=0x86000010 elr=0x9001000 far=0x9001000",
                            "VA LOAD esr=0x96000010 ", "VA FETCH esr=0x86000010 elr=0xc9001000 far=0xc9001000",
                            "PCALIGN esr=0x8a000000 ")}


def qemu_transcript(name: str) -> list[str]:
    out = subprocess.run([str(ROOT / "scripts" / "run-qemu"), str(GUESTS / f"{name}.elf"), "4"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.parametrize("name", NAMES)
def test_qemu_profile_transcript_equals_qemu(name: str) -> None:
    # --no-reboot as scripts/run-qemu gives QEMU: a SYSTEM_RESET ends the run (reset guest).
    ours = run_hcdbg("trace", name, "--profile", "qemu", "--smp", "4", "--no-reboot")
    assert ours.returncode == 0, ours.stderr[-2000:]
    theirs = qemu_transcript(name)
    lines = ours.stdout.splitlines()
    if name in NOT_COMPARED_WITH_QEMU:
        prefix, _why = NOT_COMPARED_WITH_QEMU[name]
        assert any(line.startswith(prefix) for line in theirs)
        lines = [line for line in lines if not line.startswith(prefix)]
        theirs = [line for line in theirs if not line.startswith(prefix)]
    assert lines == theirs
    for prefix in MUST_SHOW.get(name, ()):
        assert any(line.startswith(prefix) for line in theirs), prefix
    for line in NOT_ANSWERED_BY_QEMU.get(name, []):
        assert line in theirs


def test_kvm_profile_differs_from_qemu_where_the_reference_says() -> None:
    """Reference §7 items 1 and 6: QEMU answers SMCCC_VERSION -1, KVM 1.1."""
    ours = run_hcdbg("trace", "smccc-probe").stdout.splitlines()
    theirs = qemu_transcript("smccc-probe")
    assert "SMCCC_VERSION -> 0xffffffffffffffff" in theirs
    assert "SMCCC_VERSION -> 0x0000000000010001" in ours
