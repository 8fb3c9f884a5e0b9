"""Going back in time: back (reverse-continue) and the list of checkpoints."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hcdbg.stop import StopKind
from hcdbg.render.context import where
from hcdbg.repl.commands import Parser, command
from hcdbg.repl.commands.run import _count
from hcdbg.session.checkpoint_stack import Checkpoint
from hcdbg.smccc import catalog

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger


def describe(dbg: Debugger, cp: Checkpoint) -> tuple[str, str]:
    """(where, why) of a checkpoint: the call's address and name, or the stop's PC and reason."""
    stop = cp.stop
    image = dbg.session.machine.image
    if stop is None:
        return where(image.symbols, image.entry), "entry point (not started)"
    if stop.kind is StopKind.CALL and stop.trap is not None:
        fn = catalog.lookup(stop.trap.fid)
        name = fn.name if fn else f"call {stop.trap.fid:#010x}"
        return where(image.symbols, stop.trap.pc), f"{name} (forwarded)"
    return where(image.symbols, stop.pc), stop.reason


p = Parser("back", "Go back to the previous checkpoint: gdb's reverse-continue.\n"
           "Every stop shown at the prompt is a checkpoint: RAM, every vCPU's registers and "
           "power state, the UART, the scheduler, the firmware's state (TRNG stream, answer-rule "
           "counts) and the call history. Going back undoes everything the guest did since: a "
           "forwarded call is pending again with no answer, to be answered differently, and the "
           "later checkpoints are dropped. Breakpoints, ranges and answer rules are settings "
           "and stay as they are. Guest output printed since stays on the terminal but is gone "
           "from 'uart'.\nN: go back N checkpoints. 'checkpoints' lists them.")
p.arg("n", nargs="?", type=_count, default=1, metavar="N", help="how many checkpoints")


@command(p, aliases=("reverse-continue", "rc"), category="running")
def do_back(dbg: Debugger, args: argparse.Namespace) -> None:
    calls = len(dbg.session.history)
    cp = dbg.rewind.back(args.n)
    if cp.extra is not None:  # what Debugger.checkpoint() kept
        run, focus = cp.extra  # type: ignore[misc]
        dbg.current_run = run.copy()
        dbg.focus = focus
    dbg.next_examine = None
    place, why = describe(dbg, cp)
    undone = calls - cp.calls
    dbg.console.flush()
    dbg.message(f"back at checkpoint {cp.number} -- vCPU {cp.vcpu} at {place}, {why}: "
                f"{undone} call{'' if undone == 1 else 's'} undone; guest output printed since "
                "is no longer in 'uart'", "class:hint")
    dbg.show_context(cp.stop, "ready" if cp.stop is None else None)


p = Parser("checkpoints", "List the checkpoints 'back' can return to.\nOne per stop shown at "
           "the prompt since the guest was (re)started: its number, the vCPU, where and why "
           "it stopped, and how many calls had been answered. * marks where the guest is.")


@command(p, aliases=("info checkpoints",), category="running")
def do_checkpoints(dbg: Debugger, args: argparse.Namespace) -> None:
    rewind = dbg.rewind
    here = None if rewind.moved() else len(rewind.checkpoints) - 1
    rows = [(cp, *describe(dbg, cp)) for cp in rewind.checkpoints]
    width = max(len(place) for _, place, _ in rows)
    dbg.message(f"    #  vCPU  {'where':<{width}}  {'stopped at':<30} calls")
    for i, (cp, place, why) in enumerate(rows):
        mark = "*" if i == here else " "
        dbg.message(f"{mark} {cp.number:>3}  {cp.vcpu:<4}  {place:<{width}}  {why:<30} {cp.calls}")
    if here is None:
        dbg.message("the guest ran on after the last one without stopping at the prompt: "
                    "'back' returns to it", "class:hint")
