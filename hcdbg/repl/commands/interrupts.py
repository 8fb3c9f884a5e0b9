"""Interrupt state: info gic (the GICv2) and info timer (generic timers, counter)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hcdbg.errors import UsageError
from hcdbg.machine import sysreg
from hcdbg.machine.timer import PPI_PHYS, PPI_VIRT, InstructionCounter
from hcdbg.render import interrupts as irqtext
from hcdbg.render.call_lines import hexv
from hcdbg.repl.commands import Parser, command
from hcdbg.repl.intids import KNOWN
from hcdbg.values import number

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger


def _vcpus(dbg: Debugger, text: str | None) -> list[int]:
    """Every vCPU index, or the one `text` names."""
    count = len(dbg.session.machine.vcpus)
    if text is None:
        return list(range(count))
    n = number(text, "vCPU", lo=0)
    if n >= count:
        raise UsageError(f"no vCPU {n}: this machine has {count} (0..{count - 1})")
    return [n]


p = Parser("info gic", "The GICv2: distributor, and each vCPU's CPU interface.\nPMR, running "
           "priority, the IRQ line and the INTIDs enabled, pending and active (numbers are "
           "INTIDs: SGI 0-15, PPI 16-31, SPI 32..). Only vCPU N if given.",
           usage="info gic [N]")
p.arg("vcpu", nargs="?", metavar="N", complete="vcpu")


@command(p, aliases=("info irq", "info interrupts"), category="inspecting")
def do_info_gic(dbg: Debugger, args: argparse.Namespace) -> None:
    gic = dbg.session.machine.irq.gic
    cpus = [(i, gic.cpus[i].ctlr, gic.view(i)) for i in _vcpus(dbg, args.vcpu)]
    for text in irqtext.gic_lines(gic.ctlr, gic.num_irqs, cpus, KNOWN,
                                  dbg.session.machine.irq.available):
        dbg.message(text)


p = Parser("info timer", "The generic timers of each vCPU, and the system counter.\nCTL "
           "(ENABLE, IMASK, ISTATUS), CVAL, TVAL (signed, and in microseconds), the PPI line; "
           "whether the vCPU waits in WFI; which clock drives the counter and which path traps "
           "the timer registers. Only vCPU N if given.", usage="info timer [N]")
p.arg("vcpu", nargs="?", metavar="N", complete="vcpu")


@command(p, aliases=("info timers",), category="inspecting")
def do_info_timer(dbg: Debugger, args: argparse.Namespace) -> None:
    machine = dbg.session.machine
    irq = machine.irq
    cpus = _vcpus(dbg, args.vcpu)
    counter = irq.counter
    clock = ("instruction-counted (deterministic)" if isinstance(counter, InstructionCounter)
             else "host clock")
    dbg.message(f"Counter {hexv(counter.now())} at {irqtext.frequency_text(counter.frequency)}, "
                f"{clock}")
    trap = "native (compiled MRS/MSR filter)" if sysreg.native() else "Python (MRS/MSR hook)"
    dbg.message(f"Timer registers trapped: {trap}")
    for i in cpus:
        v = machine.vcpus[i]
        state = v.state.name.lower().replace("_", "-")
        wfi = "waiting in WFI" if irq.waiting[i] else "not in WFI"
        dbg.message(f"vCPU {i}: {state}, {wfi}")
        virtual, physical = irq.timers.view(i)
        dbg.message(irqtext.timer_line(virtual, PPI_VIRT, counter.frequency))
        dbg.message(irqtext.timer_line(physical, PPI_PHYS, counter.frequency))
