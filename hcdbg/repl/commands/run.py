"""Run control: continue, stepi, nexti, breakpoints, run/reset, vCPU focus."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hcdbg.errors import UsageError
from hcdbg.stop import Stop, StopKind
from hcdbg.render.call_lines import hexv
from hcdbg.repl.commands import Parser, command
from hcdbg.smccc.ids import MASK64
from hcdbg.values import number

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger


def _count(text: str) -> int:
    """A positive count, as argparse `type` (stepi 3, delete 1 2, back 2)."""
    return number(text, "count", lo=1, hi=MASK64)


p = Parser("continue", "Resume the guest until the next stop.\nA stop is a forwarded call, a "
           "breakpoint, a fault, power-off or Ctrl-C. At a forwarded call, the answer given with reply, "
           "handle or deny is written first. The first 'continue' starts the guest.")


@command(p, aliases=("c", "cont", "fg"), category="running", repeat=True)
def do_continue(dbg: Debugger, args: argparse.Namespace) -> None:
    dbg.resume(lambda: dbg.session.cont(dbg.max_insns))


p = Parser("stepi", "Execute N instructions (default 1) on the selected vCPU only.\nAt a "
           "forwarded call the answer is written first; stepping onto an HVC/SMC stops at the "
           "call if it is forwarded.")
p.arg("n", nargs="?", type=_count, default=1, metavar="N", help="how many instructions")


@command(p, aliases=("si",), category="running", repeat=True)
def do_stepi(dbg: Debugger, args: argparse.Namespace) -> None:
    vcpu = dbg.focus
    dbg.resume(lambda: dbg.session.step(vcpu, args.n))


p = Parser("nexti", "Like stepi, but step over a call (bl, blr): run until it returns.")
p.arg("n", nargs="?", type=_count, default=1, metavar="N", help="how many instructions")


@command(p, aliases=("ni",), category="running", repeat=True)
def do_nexti(dbg: Debugger, args: argparse.Namespace) -> None:
    vcpu = dbg.focus

    def steps() -> Stop:
        stop = dbg.session.step_over(vcpu)
        for _ in range(args.n - 1):
            if stop.kind is not StopKind.STEP:
                break
            stop = dbg.session.step_over(vcpu)
        return stop

    dbg.resume(steps)


def _location(dbg: Debugger, words: list[str]) -> tuple[int, str]:
    if not words:
        return dbg.vcpu.pc, "current PC"
    text = " ".join(words)
    return dbg.address(text), text


p = Parser("break", "Set a breakpoint at LOCATION.\nLOCATION: an address (0x40080000, "
           "*0x40080000), a symbol (main), $reg or a sum (main+8). No LOCATION: the current PC.")
p.arg("location", nargs="*", metavar="LOCATION", complete="location")


@command(p, aliases=("b", "br"), category="running")
def do_break(dbg: Debugger, args: argparse.Namespace) -> None:
    address, text = _location(dbg, args.location)
    bp = dbg.session.breakpoints.add(address, location=text)
    dbg.message(f"Breakpoint {bp.number} at {_where(dbg, address)}")


p = Parser("tbreak", "Set a temporary breakpoint: deleted when it is hit.")
p.arg("location", nargs="*", metavar="LOCATION", complete="location")


@command(p, category="running")
def do_tbreak(dbg: Debugger, args: argparse.Namespace) -> None:
    address, text = _location(dbg, args.location)
    bp = dbg.session.breakpoints.add(address, temporary=True, location=text)
    dbg.message(f"Temporary breakpoint {bp.number} at {_where(dbg, address)}")


def _where(dbg: Debugger, address: int) -> str:
    sym = dbg.session.machine.image.symbols.describe(address)
    return f"{hexv(address)} <{sym}>" if sym else hexv(address)


p = Parser("delete", "Delete breakpoints by number.\nWithout N: all of them.")
p.arg("numbers", nargs="*", type=_count, metavar="N")


@command(p, aliases=("d",), category="running")
def do_delete(dbg: Debugger, args: argparse.Namespace) -> None:
    breakpoints = dbg.session.breakpoints
    if not args.numbers:
        if breakpoints and dbg.confirm("Delete all breakpoints? (y or n) ", True):
            breakpoints.clear()
        return
    missing = [n for n in args.numbers if n not in breakpoints]
    if missing:  # all or nothing
        raise UsageError(f"no breakpoint number {missing[0]}")
    for n in dict.fromkeys(args.numbers):  # `delete 4 4` deletes 4 (it failed half-way)
        breakpoints.delete(n)


p = Parser("info breakpoints", "List the breakpoints: number, kind, address, hits.")


@command(p, aliases=("info b", "info break"), category="running")
def do_info_breakpoints(dbg: Debugger, args: argparse.Namespace) -> None:
    breakpoints = dbg.session.breakpoints
    if not breakpoints:
        dbg.message("No breakpoints.")
        return
    dbg.message("Num  Disp  Address             What                Hits")
    for b in breakpoints:
        disp = "del " if b.temporary else "keep"
        dbg.message(f"{b.number:<4} {disp}  {_where(dbg, b.address):<19} {b.location:<19} {b.hits}")


p = Parser("run", "Start the guest again from its image and continue.\nLike gdb's run. "
           "Breakpoints, ranges and answer rules stay.")


@command(p, aliases=("r",), category="running")
def do_run(dbg: Debugger, args: argparse.Namespace) -> None:
    if dbg.current_run.started and not dbg.confirm(
            "The guest has been started already. Start it from the beginning? (y or n) ", True):
        raise UsageError("not restarted")
    dbg.restart()
    dbg.resume(lambda: dbg.session.cont(dbg.max_insns))


p = Parser("reset", "Start the guest again from its image and stop at its entry point.")


@command(p, aliases=("starti",), category="running")
def do_reset(dbg: Debugger, args: argparse.Namespace) -> None:
    dbg.restart()
    dbg.show_context(title="reset")


p = Parser("vcpu", "Select vCPU N: stepi, registers, x and disassemble then use it.\n"
           "Without N: show the selected vCPU.")
p.arg("n", nargs="?", metavar="N")


@command(p, aliases=("thread", "cpu"), category="running")
def do_vcpu(dbg: Debugger, args: argparse.Namespace) -> None:
    vcpus = dbg.session.machine.vcpus
    if args.n is not None:
        n = number(args.n, "vCPU", lo=0)
        if n >= len(vcpus):
            raise UsageError(f"no vCPU {n}: this machine has {len(vcpus)} (0..{len(vcpus) - 1})")
        dbg.focus = n
    v = dbg.vcpu
    dbg.message(f"[vCPU {v.index}] {v.state.name.lower().replace('_', '-')}, "
                f"pc {_where(dbg, v.pc)}, EL{v.el}")


p = Parser("info vcpus", "Each vCPU: power state, PC, EL.\nStates: on, off, on-pending; * marks "
           "the selected one.")


@command(p, aliases=("info threads", "info cpus"), category="running")
def do_info_vcpus(dbg: Debugger, args: argparse.Namespace) -> None:
    pending = dbg.session.pending
    dbg.message("  vCPU  MPIDR  State       EL   PC")
    for v in dbg.session.machine.vcpus:
        mark = "*" if v.index == dbg.focus else " "
        state = v.state.name.lower().replace("_", "-")
        extra = ""
        if pending is not None and pending.trap.vcpu == v.index:
            extra = f"  (at {dbg.pending_text().rsplit(' on ', 1)[0]})"
        dbg.message(f"{mark} {v.index:<5} {v.mpidr:#6x} {state:<11} EL{v.el}  "
                    f"{_where(dbg, v.pc)}{extra}")
