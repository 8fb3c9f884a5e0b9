"""The Arm generic timer of each vCPU (EL1 virtual and physical timers) and the system counter.

Spec: Arm DDI 0487 (Arm ARM for A-profile), chapter D11 "The Generic Timer in AArch64 state"
(D11.1 the system counter, D11.2 the timers: "the CompareValue view and the TimerValue view")
and the register descriptions CNTFRQ_EL0, CNTVCT_EL0, CNTPCT_EL0, CNTV_CTL_EL0,
CNTV_CVAL_EL0, CNTV_TVAL_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTP_TVAL_EL0, CNTKCTL_EL1.

Unicorn 2.1.4 cannot be left to run these registers: its guest writes to CNTV/CNTP CTL and
CVAL are dropped (`gt_ctl_write`/`gt_cval_write` are compiled out) and ISTATUS is never
set, so the machine traps MRS/MSR (UC_HOOK_INSN) and serves them from `Timers.read/write`.
A timer's output is a level-sensitive PPI into the GIC (the DT's "arm,armv8-timer"
interrupts: 30 non-secure physical, 27 virtual), asserted while ENABLE, ISTATUS and not IMASK.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Callable, Protocol

FREQUENCY = 62_500_000  # Hz: what Unicorn's CNTFRQ_EL0 reads (QEMU's 16 ns period)
PPI_VIRT = 27
PPI_PHYS = 30  # the non-secure EL1 physical timer
CTL_ENABLE, CTL_IMASK, CTL_ISTATUS = 1, 2, 4
_U64 = (1 << 64) - 1


class Reg(IntEnum):
    """The timer system registers the machine traps, by encoding (op0, op1, CRn, CRm, op2)."""

    CNTFRQ_EL0 = 0
    CNTPCT_EL0 = 1
    CNTVCT_EL0 = 2
    CNTKCTL_EL1 = 3
    CNTP_TVAL_EL0 = 4
    CNTP_CTL_EL0 = 5
    CNTP_CVAL_EL0 = 6
    CNTV_TVAL_EL0 = 7
    CNTV_CTL_EL0 = 8
    CNTV_CVAL_EL0 = 9


#: (op0, op1, CRn, CRm, op2) -> register (DDI 0487 D17/"System register index by encoding").
#: Unicorn's MRS/MSR hook passes CRn, CRm, op0, op1, op2 in its `cp_reg` argument.
ENCODINGS: dict[tuple[int, int, int, int, int], Reg] = {
    (3, 3, 14, 0, 0): Reg.CNTFRQ_EL0,
    (3, 3, 14, 0, 1): Reg.CNTPCT_EL0,
    (3, 3, 14, 0, 2): Reg.CNTVCT_EL0,
    (3, 0, 14, 1, 0): Reg.CNTKCTL_EL1,
    (3, 3, 14, 2, 0): Reg.CNTP_TVAL_EL0,
    (3, 3, 14, 2, 1): Reg.CNTP_CTL_EL0,
    (3, 3, 14, 2, 2): Reg.CNTP_CVAL_EL0,
    (3, 3, 14, 3, 0): Reg.CNTV_TVAL_EL0,
    (3, 3, 14, 3, 1): Reg.CNTV_CTL_EL0,
    (3, 3, 14, 3, 2): Reg.CNTV_CVAL_EL0,
}


class Counter(Protocol):
    """The system counter (D11.1): one count for all vCPUs, `frequency` ticks a second."""

    frequency: int

    def now(self) -> int: ...


class HostCounter:
    """The host's monotonic clock at `frequency`: what Unicorn's own CNTVCT_EL0 reads."""

    def __init__(self, frequency: int = FREQUENCY,
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.frequency = frequency
        self._clock_ns = clock_ns

    def now(self) -> int:
        return self._clock_ns() * self.frequency // 1_000_000_000

    def seconds_until(self, ticks: int) -> float:
        """How long the host waits for the count to reach `ticks` (0 if it has)."""
        return max(ticks - self.now(), 0) / self.frequency


class InstructionCounter:
    """A deterministic counter: `ticks_per_insn` ticks for each instruction the machine says
    ran (`advance`), plus `read_step` ticks each time the guest reads the count in between,
    so a loop polling CNTVCT_EL0 inside one slice sees time pass (the machine cannot know
    how far into an `emu_start` a hook is). The same run gives the same counts."""

    def __init__(self, frequency: int = FREQUENCY, ticks_per_insn: int = 1,
                 read_step: int = 8) -> None:
        self.frequency = frequency
        self.ticks_per_insn = ticks_per_insn
        self.read_step = read_step
        self._base = 0  # the count at the start of the current slice
        self._count = 0  # what the last read returned (>= _base)

    def now(self) -> int:
        return self._count

    def read(self) -> int:
        """A guest read (CNTVCT/CNTPCT): the count, then a small step forward."""
        value = self._count
        self._count += self.read_step
        return value

    def advance(self, insns: int) -> None:
        """`insns` instructions ran since the last call: the count moves on by them, but
        never back behind what reads in that slice have already seen."""
        self._base += insns * self.ticks_per_insn
        self._base = max(self._base, self._count)
        self._count = self._base

    def skip_to(self, ticks: int) -> None:
        """Every vCPU waits (WFI): jump to `ticks`, the next deadline (never backwards)."""
        if ticks > self._count:
            self._base = self._count = ticks

    def save_state(self) -> tuple[int, int]:
        return self._base, self._count

    def restore_state(self, state: tuple[int, int]) -> None:
        self._base, self._count = state


class _IrqSink(Protocol):
    def set_irq(self, irq: int, level: bool, cpu: int | None = None) -> None: ...


@dataclass
class _Timer:
    """One timer of one vCPU: CTL's ENABLE/IMASK, the 64-bit CompareValue, its PPI."""

    ppi: int
    ctl: int = 0
    cval: int = 0
    line: bool = False


@dataclass(frozen=True)
class TimerView:
    """What `info timer` shows for one timer of one vCPU."""

    name: str
    ctl: int  # with ISTATUS as of now
    cval: int
    tval: int  # signed
    line: bool


class Timers:
    """The EL1 physical and virtual timers of `ncpus` vCPUs over one counter, driving their
    PPIs in `gic`. CNTVOFF_EL2 is 0 (no EL2 in the guest): virtual count = physical count."""

    def __init__(self, ncpus: int, counter: Counter, gic: _IrqSink | None = None) -> None:
        self.counter = counter
        self.gic = gic
        self.cntvoff = 0
        self._read_count = getattr(counter, "read", counter.now)
        self.virt = [_Timer(PPI_VIRT) for _ in range(ncpus)]
        self.phys = [_Timer(PPI_PHYS) for _ in range(ncpus)]
        self.cntkctl = [0] * ncpus

    def set_counter(self, counter: Counter) -> None:
        """Use another clock from now on (the machine's host clock becomes an instruction
        count when a recording starts); timer registers keep their values."""
        self.counter = counter
        self._read_count = getattr(counter, "read", counter.now)

    # --- the views of D11.2 -------------------------------------------------------------------
    def _count(self, t: _Timer, now: int) -> int:
        return (now - self.cntvoff) & _U64 if t.ppi == PPI_VIRT else now

    def _istatus(self, t: _Timer, now: int) -> bool:
        """D11.2.4: the condition is met when (count - offset) - CompareValue >= 0 as an
        unsigned 64-bit comparison count >= CVAL; ISTATUS reads 0 while disabled (DDI 0487
        says UNKNOWN; QEMU and hardware read 0)."""
        return bool(t.ctl & CTL_ENABLE) and self._count(t, now) >= t.cval

    def _level(self, t: _Timer, now: int) -> bool:
        return self._istatus(t, now) and not t.ctl & CTL_IMASK

    def read(self, cpu: int, reg: Reg) -> int:
        """An MRS of `reg` by vCPU `cpu` (EL0 access control, CNTKCTL_EL1, is the caller's)."""
        if reg in (Reg.CNTVCT_EL0, Reg.CNTPCT_EL0):
            now = self._read_count()
            return (now - self.cntvoff) & _U64 if reg == Reg.CNTVCT_EL0 else now
        if reg == Reg.CNTFRQ_EL0:
            return self.counter.frequency
        if reg == Reg.CNTKCTL_EL1:
            return self.cntkctl[cpu]
        t = self._timer(cpu, reg)
        now = self.counter.now()
        if reg in (Reg.CNTV_CTL_EL0, Reg.CNTP_CTL_EL0):
            return t.ctl | (CTL_ISTATUS if self._istatus(t, now) else 0)
        if reg in (Reg.CNTV_CVAL_EL0, Reg.CNTP_CVAL_EL0):
            return t.cval
        # TimerValue view: (CVAL - count)[31:0]; bits [63:32] are RES0 (CNTV_TVAL_EL0).
        return (t.cval - self._count(t, now)) & 0xFFFF_FFFF

    def write(self, cpu: int, reg: Reg, value: int) -> None:
        """An MSR of `reg` by vCPU `cpu`; the timer's PPI follows at once."""
        if reg == Reg.CNTKCTL_EL1:
            self.cntkctl[cpu] = value & 0x3_03FF  # EL0 access and event-stream fields
            return
        if reg in (Reg.CNTFRQ_EL0, Reg.CNTVCT_EL0, Reg.CNTPCT_EL0):
            return  # CNTFRQ is writable only at the highest EL; the counts are read-only
        t = self._timer(cpu, reg)
        now = self.counter.now()
        if reg in (Reg.CNTV_CTL_EL0, Reg.CNTP_CTL_EL0):
            t.ctl = value & (CTL_ENABLE | CTL_IMASK)  # ISTATUS is read-only
        elif reg in (Reg.CNTV_CVAL_EL0, Reg.CNTP_CVAL_EL0):
            t.cval = value & _U64
        else:
            # TVAL write: CVAL = count + SignExtend(value[31:0]) (D11.2.4).
            tval = value & 0xFFFF_FFFF
            tval -= (tval & 0x8000_0000) << 1
            t.cval = (self._count(t, now) + tval) & _U64
        self._drive(cpu, t, now)

    def _timer(self, cpu: int, reg: Reg) -> _Timer:
        return self.virt[cpu] if reg >= Reg.CNTV_TVAL_EL0 else self.phys[cpu]

    def _drive(self, cpu: int, t: _Timer, now: int) -> None:
        level = self._level(t, now)
        if level != t.line:
            t.line = level
            if self.gic is not None:
                self.gic.set_irq(t.ppi, level, cpu)

    # --- what the scheduler asks ----------------------------------------------------------------
    def poll(self) -> None:
        """Time has passed: raise (or drop) every timer's PPI as of the counter's value now.
        Cheap; the machine calls it between slices, before it looks at the GIC's lines."""
        now = self.counter.now()
        for cpu, (v, p) in enumerate(zip(self.virt, self.phys)):
            self._drive(cpu, v, now)
            self._drive(cpu, p, now)

    def next_deadline(self, cpu: int | None = None) -> int | None:
        """The earliest physical count at which an enabled, unmasked timer whose condition
        is not met yet will fire (of vCPU `cpu`, or of all); None if there is none. A timer
        already firing is the GIC's business, not a deadline."""
        best: int | None = None
        now = self.counter.now()
        cpus = range(len(self.virt)) if cpu is None else (cpu,)
        for i in cpus:
            for t in (self.virt[i], self.phys[i]):
                if t.ctl & (CTL_ENABLE | CTL_IMASK) != CTL_ENABLE or self._istatus(t, now):
                    continue
                at = (t.cval + self.cntvoff) & _U64 if t.ppi == PPI_VIRT else t.cval
                best = at if best is None else min(best, at)
        return best

    def view(self, cpu: int) -> tuple[TimerView, TimerView]:
        """(virtual, physical) timer of `cpu` for display."""
        out = []
        now = self.counter.now()
        for name, t in (("virtual", self.virt[cpu]), ("physical", self.phys[cpu])):
            tval = (t.cval - self._count(t, now)) & 0xFFFF_FFFF
            out.append(TimerView(name, t.ctl | (CTL_ISTATUS if self._istatus(t, now) else 0),
                                 t.cval, tval - ((tval & 0x8000_0000) << 1), t.line))
        return out[0], out[1]

    def save_state(self) -> tuple[tuple[tuple[int, int, bool], ...], tuple[int, ...]]:
        """For a checkpoint (the counter is saved by its owner)."""
        return (tuple((t.ctl, t.cval, t.line) for t in self.virt + self.phys), tuple(self.cntkctl))

    def restore_state(self, state: tuple[tuple[tuple[int, int, bool], ...], tuple[int, ...]]) -> None:
        timers, cntkctl = state
        for t, (ctl, cval, line) in zip(self.virt + self.phys, timers):
            t.ctl, t.cval, t.line = ctl, cval, line
        self.cntkctl = list(cntkctl)
