"""Reading a stop off the live machine into a frozen `StopView` (hcdbg/stop.py) for render.

Only the REPL's stop display calls this, after a run has returned: answered calls never
build a view (style.md rule 7)."""
from __future__ import annotations

from collections.abc import Mapping

from hcdbg.code import read_window
from hcdbg.errors import HcdbgError
from hcdbg.machine.machine import Machine
from hcdbg.session.session import PendingCall, Session
from hcdbg.smccc.call import Answer
from hcdbg.smccc.decode import decode_call
from hcdbg.stop import SHOWN_REGISTERS, CallView, Stop, StopKind, StopView


def registers(machine: Machine, vcpu: int) -> dict[str, int]:
    """The registers a stop shows, by name (the REPL keeps them to mark what changed)."""
    v = machine.vcpus[vcpu]
    return {name: v.read(name) for name in SHOWN_REGISTERS}


def call_view(session: Session, pending: PendingCall) -> CallView:
    """The pending call, decoded, with the built-in handler's answer from a dry run."""
    t = pending.trap
    built_in: Answer | None = None
    refusal = ""
    try:
        built_in = session.preview()
    except HcdbgError as exc:
        refusal = str(exc)
    return CallView(t, decode_call(t.fid, t.regs, t.imm, t.conduit), built_in, refusal,
                    pending.answer, pending.source)


def stop_view(session: Session, stop: Stop, vcpu: int, before: Mapping[str, int] | None,
              title: str | None = None) -> StopView:
    """The view of `stop` on `vcpu`; `before` holds its registers at the last stop shown
    (None: nothing is marked changed)."""
    machine = session.machine
    regs = registers(machine, vcpu)
    changed = frozenset(n for n, v in regs.items() if before is not None and before.get(n) != v)
    pending = session.pending
    call = waiting = None
    if pending is not None:
        if stop.kind is StopKind.CALL and pending.trap.vcpu == vcpu:
            call = call_view(session, pending)
        else:
            waiting = pending.trap.vcpu
    code, code_error = None, ""
    try:
        code = read_window(lambda address, size: machine.read_memory(address, size, vcpu),
                           regs["pc"])
    except HcdbgError as exc:
        code_error = str(exc)
    return StopView(stop, vcpu, machine.image.symbols, tuple(regs.items()), changed, code,
                    code_error, call, waiting, len(session.history), title)
