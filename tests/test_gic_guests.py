"""The interrupt guests (gic-ipi, timer) under real QEMU: the transcripts their designs and
the specs say they must print, which are then the oracle for hcdbg's GIC and timer.

Each expected line comes from the guest's header (what it does, in which order) and the
architecture: IHI 0048B (GICv2) for the SGIs and priorities, DDI 0487 D11 for the timers.
Nothing here is taken from hcdbg's output. Skipped without qemu-system-aarch64.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "guests"
RUN_QEMU = ROOT / "scripts" / "run-qemu"

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None,
                                reason="qemu-system-aarch64 not installed")

#: GICD_TYPER on QEMU's virt (§4.3.2): ITLinesNumber = 8, i.e. 32 * 9 = 288 IDs: the 32
#: SGIs/PPIs and virt's 256 SPIs (hw/arm/virt.h NUM_IRQS); CPUNumber = CPUs - 1.
VIRT_INTERRUPT_IDS = 288
DEFAULT_PRIO = 0x80     # what every CPU writes to its banked SGI priority bytes
IDLE_PRIO = 0xFF        # §4.4.6: GICC_RPR with no active interrupt


def sgi(cpu: int, intid: int, source: int, rpr: int = DEFAULT_PRIO) -> str:
    """A receiver's line: GICC_IAR's ID [9:0] and source CPU [12:10] (§4.4.4), and GICC_RPR,
    the priority of the interrupt just acknowledged (§4.4.6)."""
    return f"cpu{cpu}: SGI {intid} from cpu{source} (RPR {rpr:#x})"


#: gic-ipi's GICD_SGIR steps in order (§4.3.15), each with the acknowledges it must cause,
#: in the slot order the guest prints them. Senders other than CPU 0 act on SGIs 7, 10, 12.
SGI_STEPS: list[tuple[str, list[str]]] = [
    ("filter 0, list {1}", [sgi(1, 1, 0)]),
    ("filter 0, list {2}", [sgi(2, 2, 0)]),
    ("filter 0, list {3}", [sgi(3, 3, 0)]),
    ("filter 0, list {1, 3}", [sgi(1, 4, 0), sgi(3, 4, 0)]),
    # CPU 2 answers SGI 7 with SGI 8 to the CPU that IAR[12:10] names: CPU 0.
    ("filter 0, list {2}; reply", [sgi(2, 7, 0), sgi(0, 8, 2)]),
    # TargetListFilter 1: every CPU interface but the requester's.
    ("filter 1 from cpu0", [sgi(1, 9, 0), sgi(2, 9, 0), sgi(3, 9, 0)]),
    ("filter 0, list {3}; cpu3 sends filter 1",
     [sgi(3, 10, 0), sgi(0, 11, 3), sgi(1, 11, 3), sgi(2, 11, 3)]),
    # TargetListFilter 2: the requester only; its target list (0b1101, not CPU 1) is ignored.
    ("filter 0, list {1}; cpu1 sends filter 2", [sgi(1, 12, 0), sgi(1, 13, 1)]),
]


def gic_ipi_transcript(ncpus: int = 4) -> list[str]:
    lines = [f"gic: {ncpus} CPUs, {VIRT_INTERRUPT_IDS} interrupt IDs"]
    # §4.4.2: PMR keeps at least its top 4 bits, so 0xF0 reads back as written.
    lines += [f"cpu{cpu}: ready, PMR 0xf0" for cpu in range(ncpus)]
    for _what, acks in SGI_STEPS:
        lines += acks
    lines += [
        # §3.3: with both pending and PSTATE.I set, the highest-priority (lowest value)
        # pending interrupt is SGI 6 (GICC_HPPIR, §4.4.8; source CPU 0, so bits [12:10] are 0);
        # nothing is active, so RPR is idle.
        "cpu0: IRQs masked, SGI 5 (priority 0xa0) then SGI 6 (priority 0x40) pending: "
        f"HPPIR 0x6, RPR {IDLE_PRIO:#x}",
        sgi(0, 6, 0, 0x40),     # taken first although sent second
        sgi(0, 5, 0, 0xA0),
        sgi(1, 5, 0),           # §4.3.11: SGI priorities are banked; CPU 1's is still 0x80
        # §3.3.2: signalled only if its priority is higher than the mask; 0xC0 is not
        # higher than PMR 0xC0, so it stays pending (GICD_ISPENDR0, §4.3.7) ...
        "cpu0: PMR 0xc0, SGI 14 (priority 0xc0) pending, not taken",
        sgi(0, 14, 0, 0xC0),    # ... and is taken once PMR is 0xF0 again
        # §3.2.5, §4.4.4: IAR with nothing pending returns the spurious ID 1023.
        "cpu0: IAR 0x3ff with nothing pending",
        "PASS", "SYSTEM_OFF",
    ]
    return lines


def timer_transcript() -> list[str]:
    # DDI 0487 D11.2.4: the timer's interrupt is asserted when ENABLE is 1, ISTATUS is 1
    # (count >= CVAL) and IMASK is 0; virt wires the virtual timer to PPI 27, the EL1
    # physical timer to PPI 30. The handler runs only after the deadline, with ISTATUS set.
    fired = "IRQ {}: count >= deadline, ISTATUS 1"
    return [
        # QEMU 7.2's generic timer counts in 16 ns steps (GTIMER_SCALE): 62.5 MHz.
        f"timer: CNTFRQ_EL0 {62_500_000:#x}",
        "vtimer: tick 1, CVAL = count + 1 ms", fired.format(27),
        "vtimer: tick 2, CVAL = count + 1 ms", fired.format(27),
        # A TVAL write sets CVAL = count + SignExtend(TVAL[31:0]) (D11.2.4).
        "vtimer: tick 3, TVAL = 1 ms", fired.format(27),
        "ptimer: tick, CVAL = count + 1 ms", fired.format(30),
        # IMASK masks only the interrupt: ISTATUS still reports the condition, so CTL reads
        # ENABLE | IMASK | ISTATUS = 0x7; the level-sensitive PPI is never asserted.
        "vtimer: IMASK set, CVAL = count + 1 ms, IRQs unmasked",
        "vtimer: past the deadline: CTL 0x7, no IRQ, PPI 27 not pending",
        # Clearing IMASK with the condition still true asserts the interrupt at once.
        "vtimer: IMASK cleared", fired.format(27),
        "PASS", "SYSTEM_OFF",
    ]


def run_qemu(name: str, smp: int) -> list[str]:
    proc = subprocess.run([str(RUN_QEMU), str(GUESTS / f"{name}.elf"), str(smp)],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, f"run-qemu {name}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout.splitlines()


@needs_qemu
def test_gic_ipi_transcript_under_qemu() -> None:
    assert run_qemu("gic-ipi", 4) == gic_ipi_transcript(4)


@needs_qemu
def test_gic_ipi_is_deterministic() -> None:
    # A host thread per vCPU under TCG: the guest's slot order must fix the UART order.
    first = run_qemu("gic-ipi", 4)
    for _ in range(3):
        assert run_qemu("gic-ipi", 4) == first


@needs_qemu
def test_gic_ipi_sgi_lines_follow_the_target_filters() -> None:
    """Restated from the printed lines alone: the steps' receivers are what §4.3.15 says for
    each filter, and every SGI's reported source is the CPU that wrote GICD_SGIR."""
    lines = run_qemu("gic-ipi", 4)
    assert lines[-2:] == ["PASS", "SYSTEM_OFF"]
    seen = [(int(c), int(i), int(s)) for c, i, s in
            (m.groups() for m in map(re.compile(r"cpu(\d): SGI (\d+) from cpu(\d) ").match, lines) if m)]
    receivers = {intid: sorted(c for c, i, _s in seen if i == intid) for intid in (9, 11, 13)}
    assert receivers == {9: [1, 2, 3],      # filter 1 from CPU 0: all but CPU 0
                         11: [0, 1, 2],     # filter 1 from CPU 3: all but CPU 3
                         13: [1]}           # filter 2 from CPU 1: CPU 1 only
    assert {s for _c, i, s in seen if i == 11} == {3}
    assert (0, 8, 2) in seen                # the reply went back to IAR[12:10] of SGI 7


@needs_qemu
def test_gic_ipi_takes_the_higher_priority_first() -> None:
    lines = run_qemu("gic-ipi", 4)
    i = lines.index(sgi(0, 6, 0, 0x40))
    assert lines[i + 1] == sgi(0, 5, 0, 0xA0)


@needs_qemu
@pytest.mark.parametrize("smp", [1, 4])
def test_timer_transcript_under_qemu(smp: int) -> None:
    # One CPU runs; on -smp 4 the others stay off (PSCI) and change nothing.
    assert run_qemu("timer", smp) == timer_transcript()
