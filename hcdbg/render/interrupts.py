"""Interrupt state as text: GICv2 INTID lists, CPU interfaces and generic timers (`info gic`,
`info timer`, `catch irq`).

Draws plain values that the REPL reads off the machine (`IrqState`, `TimerState` below are
the shapes it needs), so nothing here touches a machine and tests need no Unicorn.
Spec: Arm IHI 0048B (GICv2) §2.2.1 for the INTID classes, §4.3.1/§4.4.1 for the CTLR bits;
Arm DDI 0487 D11.2 for the timer's CTL, CVAL and TVAL.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from hcdbg.render.call_lines import hexv

#: INTID classes, IHI 0048B §2.2.1: SGIs 0-15, PPIs 16-31, SPIs 32-1019; 1020-1023 special.
SGI_LAST, PPI_LAST, SPI_LAST = 15, 31, 1019
IDLE_PRIORITY = 0xFF  # GICC_RPR with nothing active (§4.4.6)
# Generic timer CTL bits (DDI 0487 D11.2: CNTV_CTL_EL0, CNTP_CTL_EL0).
CTL_BITS = ((1, "ENABLE"), (2, "IMASK"), (4, "ISTATUS"))


class IrqState(Protocol):
    """One CPU interface's view (hcdbg.machine.gic.IrqView has this shape)."""

    enabled: tuple[int, ...]
    pending: tuple[int, ...]
    active: tuple[int, ...]
    pmr: int
    running_priority: int
    irq_line: bool


class TimerState(Protocol):
    """One timer of one vCPU (hcdbg.machine.timer.TimerView has this shape)."""

    name: str
    ctl: int
    cval: int
    tval: int
    line: bool


def intid_class(intid: int) -> str:
    """SGI, PPI, SPI, or "special" (1020-1023: spurious and reserved IDs)."""
    if intid <= SGI_LAST:
        return "SGI"
    if intid <= PPI_LAST:
        return "PPI"
    return "SPI" if intid <= SPI_LAST else "special"


def describe_intid(intid: int, known: Mapping[int, str]) -> str:
    """'PPI 27 (virtual timer)', 'SGI 3', 'SPI 40'."""
    name = known.get(intid)
    return f"{intid_class(intid)} {intid}" + (f" ({name})" if name else "")


def intid_list(ids: Iterable[int], known: Mapping[int, str]) -> str:
    """INTIDs compressed into runs within one class ('SGI 0-15, PPI 27 (virtual timer)');
    a well-known ID stands alone with its name. 'none' for no IDs."""
    parts: list[str] = []
    run: list[int] = []

    def flush() -> None:
        if run:
            span = str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"
            parts.append(f"{intid_class(run[0])} {span}")
            run.clear()

    for intid in sorted(set(ids)):
        if intid in known:
            flush()
            parts.append(describe_intid(intid, known))
            continue
        if run and (intid != run[-1] + 1 or intid_class(intid) != intid_class(run[0])):
            flush()
        run.append(intid)
    flush()
    return ", ".join(parts) if parts else "none"


def _groups(ctlr: int) -> str:
    """The EnableGrp0/EnableGrp1 bits of GICD_CTLR or GICC_CTLR (§4.3.1, §4.4.1)."""
    on = [str(g) for g in (0, 1) if ctlr >> g & 1]
    if not on:
        return "disabled"
    return f"enabled (group{'s' if len(on) > 1 else ''} {' and '.join(on)})"


def gic_lines(dist_ctlr: int, num_irqs: int, cpus: Sequence[tuple[int, int, IrqState]],
              known: Mapping[int, str], deliverable: bool = True) -> list[str]:
    """`info gic`: the distributor, then one block per (vCPU index, GICC_CTLR, view)."""
    if not dist_ctlr & 3 and not any(ctlr & 3 for _, ctlr, _ in cpus):
        pending = sorted({i for _, _, v in cpus for i in v.pending})
        more = f"; pending: {intid_list(pending, known)}" if pending else ""
        return [f"GIC not enabled by the guest yet (GICD_CTLR {hexv(dist_ctlr)}, every "
                f"GICC_CTLR 0x0){more}"]
    lines = [f"Distributor {_groups(dist_ctlr)}, GICD_CTLR {hexv(dist_ctlr)}; "
             f"INTIDs 0-{num_irqs - 1}"]
    if not deliverable:
        lines.append("(this Unicorn cannot raise IRQs: nothing pending is ever taken)")
    for index, ctlr, v in cpus:
        rpr = hexv(v.running_priority) + (" (idle)" if v.running_priority == IDLE_PRIORITY else "")
        lines.append(f"vCPU {index}: CPU interface {_groups(ctlr)}, GICC_CTLR {hexv(ctlr)}, "
                     f"PMR {hexv(v.pmr)}, running priority {rpr}, "
                     f"IRQ line {'up' if v.irq_line else 'down'}")
        lines.append(f"  enabled  {intid_list(v.enabled, known)}")
        lines.append(f"  pending  {intid_list(v.pending, known)}")
        lines.append(f"  active   {intid_list(v.active, known)}")
    return lines


def ctl_text(ctl: int) -> str:
    """'0x5 [ ENABLE ISTATUS ]' (gdb's way with flag registers)."""
    names = " ".join(name for bit, name in CTL_BITS if ctl & bit)
    return f"{hexv(ctl)} [ {names} ]" if names else f"{hexv(ctl)} [ ]"


def microseconds(ticks: int, frequency: int) -> str:
    """Counter ticks as microseconds at `frequency` Hz, signed ('-2421.072 us')."""
    if frequency <= 0:
        return "? us"
    return f"{ticks * 1_000_000 / frequency:.3f} us"


def timer_line(t: TimerState, ppi: int, frequency: int) -> str:
    """One timer: CTL decoded, CVAL, TVAL (signed: negative once the deadline has passed;
    it reads CVAL - count whether or not the timer is enabled), its PPI's level."""
    return (f"  {t.name:<8}  CTL {ctl_text(t.ctl):<28} CVAL {hexv(t.cval):<18} "
            f"TVAL {t.tval} ({microseconds(t.tval, frequency)})  "
            f"PPI {ppi} {'up' if t.line else 'down'}")


def frequency_text(hz: int) -> str:
    """'62500000 Hz (62.5 MHz)'."""
    return f"{hz} Hz ({hz / 1e6:g} MHz)"
