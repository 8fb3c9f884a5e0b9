"""What a run of the machine ends with: a stop event and its kind."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hcdbg.smccc.call import Call


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
