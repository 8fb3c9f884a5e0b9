"""The values every layer shares about one firmware call: the call, its answer, and a
vCPU's power state. Pure; the machine builds a `Call`, handlers and rules return `Answer`s."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from hcdbg.smccc.effects import Effect
from hcdbg.smccc.ids import Conduit


class Call(NamedTuple):
    """One HVC/SMC: its function ID (W0), x0..x17, how and where it was made.

    Immutable like the other values, but a NamedTuple: one is built for every call, and
    a frozen dataclass's __init__ costs about 1 us more (scripts/bench profile, issue 6)."""

    fid: int  # W0: the 32-bit function ID (x0 & 0xffffffff)
    regs: tuple[int, ...]  # x0..x17 as 64-bit values at the moment of the call
    conduit: Conduit = "hvc"
    imm: int = 0
    vcpu: int = 0  # index of the calling vCPU
    pc: int = 0  # address of the HVC/SMC instruction

    def arg(self, n: int) -> int:
        """x<n> (1..17), 64-bit."""
        return self.regs[n]

    def arg32(self, n: int) -> int:
        """w<n>: the low 32 bits, as SMC32 callees must read it (DEN0028 §2.6)."""
        return self.regs[n] & 0xFFFF_FFFF


class PowerState(Enum):
    """A vCPU's PSCI power state (DEN0022 §5.8 AFFINITY_INFO values)."""

    ON = 0
    OFF = 1
    ON_PENDING = 2


@dataclass(frozen=True)
class Answer:
    """Registers to write (index -> 64-bit value) plus an optional machine effect.

    `why` is one short line a user can read: which rule of which spec/implementation
    produced this answer (shown by the REPL before the user accepts it)."""

    regs: dict[int, int] = field(default_factory=dict)
    effect: Effect | None = None
    why: str = ""
