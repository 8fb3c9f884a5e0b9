"""A stop as data: the event a run returns (`Stop`) and the frozen view of it the REPL draws
(`StopView`).

Pure (standard library and smccc): the machine returns `Stop`s, the session builds a
`StopView` from the live machine only when a stop is shown (hcdbg/session/view.py), and
`render/` draws one without a machine, so a saved or hand-made view draws the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from hcdbg.code import CodeBytes
from hcdbg.smccc.call import Answer, Call
from hcdbg.smccc.decode import DecodedCall
from hcdbg.smccc.source import BUILT_IN, AnsweredBy

#: The registers a stop shows, in order (`info registers` adds the system registers).
SHOWN_REGISTERS = tuple(f"x{i}" for i in range(31)) + ("sp", "pc", "pstate")


class StopKind(Enum):
    """Why `run`/`step` returned."""

    CALL = "call"  # an HVC/SMC the session forwards: answer it, then resume
    BREAKPOINT = "breakpoint"
    STEP = "step"
    EXCEPTION = "exception"  # a guest exception caught (no vectors, or the user asked)
    FAULT = "fault"  # access to unmapped memory without vectors to take it: cannot continue
    INTERRUPT = "interrupt"  # stop requested (Ctrl-C)
    POWER_OFF = "power-off"
    RESET = "reset"
    HALTED = "halted"  # no vCPU is on
    MAX_INSNS = "max-insns"


@dataclass(frozen=True)
class Stop:
    """A stop event: the kind, the vCPU it concerns, its PC and a one-line reason."""

    kind: StopKind
    vcpu: int
    pc: int
    reason: str
    trap: Call | None = None  # the call a CALL stop is at

    @property
    def resumable(self) -> bool:
        return self.kind not in (StopKind.FAULT, StopKind.POWER_OFF, StopKind.HALTED)


class SymbolNames(Protocol):
    """Names code addresses (`hcdbg.machine.loader.Symbols` is one)."""

    def describe(self, address: int) -> str | None:
        """`name` or `name+0x10` for `address`, or None."""


@dataclass(frozen=True)
class CallView:
    """The forwarded call a stop is at: decoded, what the built-in handler would answer
    (the session's dry run), and the answer chosen so far."""

    trap: Call
    decoded: DecodedCall
    built_in: Answer | None  # None: the dry run refused (see `refusal`)
    refusal: str = ""  # why the built-in handler could not answer
    answer: Answer | None = None  # None: not answered yet
    source: AnsweredBy = BUILT_IN  # who chose `answer` (meaningless while it is None)


@dataclass(frozen=True)
class StopView:
    """Everything the stop display shows about one vCPU at one stop, read once."""

    stop: Stop
    vcpu: int  # the vCPU shown (the focused one: not always the one that stopped)
    symbols: SymbolNames  # names for code addresses and branch targets
    registers: tuple[tuple[str, int], ...]  # SHOWN_REGISTERS with their values
    changed: frozenset[str] = frozenset()  # registers that differ from the last stop shown
    code: CodeBytes | None = None  # the words around the pc; None: unreadable
    code_error: str = ""  # why the code could not be read
    call: CallView | None = None  # the forwarded call, when the stop is at one on `vcpu`
    waiting: int | None = None  # another vCPU whose forwarded call waits for an answer
    answered: int = 0  # calls answered so far in the session
    title: str | None = None  # a title other than the stop kind's ("breakpoint 1")

    @property
    def pc(self) -> int:
        """The shown vCPU's PC."""
        return dict(self.registers)["pc"]


#: What users call each exception they can stop at (`--catch NAME`, the REPL's `catch NAME`)
#: -> the name machine/exceptions.py gives it. Here, not there, so that parsing a command
#: line needs no Unicorn.
CATCH_NAMES = {"svc": "SVC", "brk": "BRK", "undef": "undefined instruction",
               "iabt": "prefetch abort", "dabt": "data abort"}
