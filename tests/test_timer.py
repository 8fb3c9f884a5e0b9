"""The generic timer model against DDI 0487 chapter D11 (the Generic Timer in AArch64)."""
from __future__ import annotations

from hcdbg.machine import gic as G
from hcdbg.machine.gic import Gic
from hcdbg.machine.timer import (CTL_ENABLE, CTL_IMASK, CTL_ISTATUS, ENCODINGS, PPI_PHYS, PPI_VIRT,
                                 HostCounter, InstructionCounter, Reg, Timers)


class FakeCounter:
    frequency = 62_500_000

    def __init__(self) -> None:
        self.value = 1000

    def now(self) -> int:
        return self.value


def board(ncpus: int = 2) -> tuple[Gic, Timers, FakeCounter]:
    gic = Gic(ncpus)
    gic.dist_write(0, G.GICD_CTLR, 4, 1)
    for cpu in range(ncpus):
        gic.dist_write(cpu, G.GICD_ISENABLER, 4, 1 << PPI_VIRT | 1 << PPI_PHYS)
        gic.cpu_write(cpu, G.GICC_PMR, 4, 0xF0)
        gic.cpu_write(cpu, G.GICC_CTLR, 4, 1)
    counter = FakeCounter()
    return gic, Timers(ncpus, counter, gic), counter


def test_encodings_are_the_architected_ones() -> None:
    """DDI 0487 system register encodings: CNTV_CTL_EL0 is S3_3_C14_C3_1, CNTKCTL_EL1 S3_0_C14_C1_0."""
    assert ENCODINGS[(3, 3, 14, 3, 1)] == Reg.CNTV_CTL_EL0
    assert ENCODINGS[(3, 3, 14, 2, 2)] == Reg.CNTP_CVAL_EL0
    assert ENCODINGS[(3, 0, 14, 1, 0)] == Reg.CNTKCTL_EL1
    assert len(ENCODINGS) == 10


def test_tval_is_a_signed_32_bit_view_of_cval() -> None:
    """D11.2.4: TVAL reads (CVAL - count)[31:0]; a TVAL write sets CVAL = count +
    SignExtend(TVAL[31:0]), so a negative TVAL puts the deadline in the past."""
    _gic, timers, counter = board()
    timers.write(0, Reg.CNTV_TVAL_EL0, 500)
    assert timers.read(0, Reg.CNTV_CVAL_EL0) == 1500
    counter.value = 1200
    assert timers.read(0, Reg.CNTV_TVAL_EL0) == 300
    counter.value = 1600
    assert timers.read(0, Reg.CNTV_TVAL_EL0) == 0xFFFF_FF9C  # -100
    timers.write(0, Reg.CNTP_TVAL_EL0, 0xFFFF_FFFF_FFFF_FF00)  # only [31:0] count: -256
    assert timers.read(0, Reg.CNTP_CVAL_EL0) == 1600 - 256
    timers.write(0, Reg.CNTP_CVAL_EL0, 0x1_0000_0640)  # TVAL truncates to 32 bits
    assert timers.read(0, Reg.CNTP_TVAL_EL0) == 0


def test_ctl_istatus_and_imask() -> None:
    """CNTV_CTL_EL0: ENABLE and IMASK are written, ISTATUS is read-only and reflects
    count >= CVAL while enabled; the interrupt is asserted when ENABLE && ISTATUS && !IMASK."""
    gic, timers, counter = board()
    timers.write(1, Reg.CNTV_CVAL_EL0, 2000)
    timers.write(1, Reg.CNTV_CTL_EL0, CTL_ENABLE | CTL_ISTATUS)
    assert timers.read(1, Reg.CNTV_CTL_EL0) == CTL_ENABLE
    counter.value = 2000
    assert timers.read(1, Reg.CNTV_CTL_EL0) == CTL_ENABLE | CTL_ISTATUS
    assert not gic.pending_irq(1)  # the line moves when the machine polls
    timers.poll()
    assert gic.lines == (False, True)
    timers.write(1, Reg.CNTV_CTL_EL0, CTL_ENABLE | CTL_IMASK)
    assert timers.read(1, Reg.CNTV_CTL_EL0) == CTL_ENABLE | CTL_IMASK | CTL_ISTATUS
    assert gic.lines == (False, False)
    timers.write(1, Reg.CNTV_CTL_EL0, 0)
    assert timers.read(1, Reg.CNTV_CTL_EL0) == 0  # ISTATUS clear while disabled


def test_level_ppi_from_timer_through_the_gic() -> None:
    """IHI 0048B §3.2.4 with the timer as the level source: Linux's sequence (IAR, mask the
    timer in CTL, program the next event, EOIR) leaves nothing pending; the PPIs are 27
    (virtual) and 30 (physical), banked per CPU (§2.2.1)."""
    gic, timers, counter = board()
    timers.write(0, Reg.CNTV_TVAL_EL0, 100)
    timers.write(0, Reg.CNTV_CTL_EL0, CTL_ENABLE)
    counter.value += 99
    timers.poll()
    assert not gic.pending_irq(0)
    counter.value += 1
    timers.poll()
    assert gic.lines == (True, False)
    assert gic.cpu_read(0, G.GICC_IAR) == PPI_VIRT
    timers.write(0, Reg.CNTV_CTL_EL0, CTL_ENABLE | CTL_IMASK)  # handler masks...
    timers.write(0, Reg.CNTV_TVAL_EL0, 1000)  # ...sets the next event...
    timers.write(0, Reg.CNTV_CTL_EL0, CTL_ENABLE)  # ...and unmasks
    gic.cpu_write(0, G.GICC_EOIR, 4, PPI_VIRT)
    assert not gic.pending_irq(0)
    # The physical timer of CPU 1 raises PPI 30 on CPU 1 only.
    timers.write(1, Reg.CNTP_CVAL_EL0, 0)
    timers.write(1, Reg.CNTP_CTL_EL0, CTL_ENABLE)
    assert gic.lines == (False, True)
    assert gic.cpu_read(1, G.GICC_IAR) == PPI_PHYS


def test_next_deadline() -> None:
    """The scheduler's question: the earliest count at which an enabled, unmasked timer
    that has not fired yet will fire."""
    _gic, timers, counter = board(3)
    assert timers.next_deadline() is None
    timers.write(0, Reg.CNTV_CVAL_EL0, 5000)
    timers.write(0, Reg.CNTV_CTL_EL0, CTL_ENABLE)
    timers.write(1, Reg.CNTP_CVAL_EL0, 3000)
    timers.write(1, Reg.CNTP_CTL_EL0, CTL_ENABLE | CTL_IMASK)  # masked: no deadline
    timers.write(2, Reg.CNTP_CVAL_EL0, 4000)
    timers.write(2, Reg.CNTP_CTL_EL0, CTL_ENABLE)
    assert timers.next_deadline() == 4000
    assert timers.next_deadline(0) == 5000
    counter.value = 4000
    assert timers.next_deadline() == 5000  # CPU 2's has fired: the GIC holds it now


def test_counts_and_frequency() -> None:
    """CNTVCT_EL0 = CNTPCT_EL0 - CNTVOFF_EL2 (0 here); CNTFRQ_EL0 as the device tree says."""
    _gic, timers, counter = board()
    counter.value = 123456
    assert timers.read(0, Reg.CNTVCT_EL0) == 123456
    assert timers.read(1, Reg.CNTPCT_EL0) == 123456
    assert timers.read(0, Reg.CNTFRQ_EL0) == 62_500_000
    timers.write(0, Reg.CNTVCT_EL0, 5)  # read-only
    assert timers.read(0, Reg.CNTVCT_EL0) == 123456


def test_host_counter_at_62_5_mhz() -> None:
    """Unicorn's CNTVCT reads host monotonic time at 62.5 MHz (16 ns a tick)."""
    ns = [1_000_000_000]
    c = HostCounter(clock_ns=lambda: ns[0])
    assert c.now() == 62_500_000
    assert c.seconds_until(62_500_000 + 625_000) == 0.01


def test_deterministic_counter() -> None:
    """The --deterministic counter is a function of the run: instructions the machine
    reports, plus a step per guest read so polling loops progress; never backwards."""
    def run() -> list[int]:
        c = InstructionCounter(ticks_per_insn=1, read_step=8)
        timers = Timers(1, c)
        seen = [timers.read(0, Reg.CNTVCT_EL0) for _ in range(3)]  # 0, 8, 16
        c.advance(10)  # a 10-instruction slice that read three times: 24 already seen
        seen.append(timers.read(0, Reg.CNTVCT_EL0))
        c.advance(1000)
        seen.append(timers.read(0, Reg.CNTVCT_EL0))
        c.skip_to(50_000)  # every vCPU in WFI: time jumps to the deadline
        c.skip_to(10)
        seen.append(timers.read(0, Reg.CNTVCT_EL0))
        return seen
    assert run() == run() == [0, 8, 16, 24, 1024, 50_000]
