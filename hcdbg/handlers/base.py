"""The contract between the engine and the built-in handlers: a call in, an answer out.

Handlers are pure: they read the call and a read-only view of the platform (vCPU MPIDRs
and power states) and return an `Answer` — registers to write and, for PSCI calls that
change the machine, an `Effect` the machine applies. They never touch Unicorn.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Protocol

from hcdbg.smccc.ids import Conduit


class Call(NamedTuple):
    """One HVC/SMC as the callee sees it.

    Immutable like the other values, but a NamedTuple: one is built for every call, and
    a frozen dataclass's __init__ costs about 1 us more (scripts/bench profile, issue 6)."""

    fid: int  # W0: the 32-bit function ID
    regs: tuple[int, ...]  # x0..x17 as 64-bit values at the moment of the call
    conduit: Conduit = "hvc"
    imm: int = 0
    vcpu: int = 0  # index of the calling vCPU

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


class Platform(Protocol):
    """What a handler may read about the machine."""

    def mpidrs(self) -> tuple[int, ...]:
        """MPIDR affinity value (Aff3..Aff0, no bit 31) of each vCPU, by index."""
        ...

    def power_state(self, index: int) -> PowerState:
        """Current power state of vCPU `index`."""
        ...


class ClockPlatform(Platform, Protocol):
    """A platform that can also read the clocks KVM's PTP call reports (optional).

    Handlers look for `clock_snapshot` with getattr; a platform without it simply has no
    PTP service (KVM_FEATURES bit 1 clear, PTP -> NOT_SUPPORTED)."""

    def clock_snapshot(self, index: int, physical: bool) -> tuple[int, int]:
        """(wall-clock ns since the Unix epoch, the counter vCPU `index` reads), taken at one
        instant; `physical` picks CNTPCT over CNTVCT (reference §4.5, KVM PTP)."""
        ...


# --- Effects: what a handler asks the machine to do after writing the answer -----------


@dataclass(frozen=True)
class CpuOn:
    """Start vCPU `target` (index) at `entry`, EL1h, MMU off, DAIF masked, x0 = context_id."""

    target: int
    entry: int
    context_id: int


@dataclass(frozen=True)
class CpuOff:
    """Power the calling vCPU off (it does not return)."""


@dataclass(frozen=True)
class CpuSuspend:
    """Power-down suspend of the caller: it resumes at `entry` with x0 = context_id.

    None for `entry` means standby: the call simply returns (after a WFI-like yield)."""

    entry: int | None = None
    context_id: int = 0


@dataclass(frozen=True)
class SystemOff:
    """End the run: the machine powered off. `kind` names the call (SYSTEM_OFF, SYSTEM_OFF2)."""

    kind: str = "SYSTEM_OFF"


@dataclass(frozen=True)
class SystemReset:
    """Restart the guest from its image. `kind` names the call (SYSTEM_RESET, SYSTEM_RESET2)."""

    kind: str = "SYSTEM_RESET"


@dataclass(frozen=True)
class SystemSuspend:
    """Whole-system suspend: resume the caller at `entry` with x0 = context_id."""

    entry: int
    context_id: int


@dataclass(frozen=True)
class Undefined:
    """The instruction is UNDEFINED for this callee: the guest takes an undefined-instruction
    exception instead of an answer (what QEMU's TCG does for the conduit it does not emulate,
    reference §5.1)."""


Effect = CpuOn | CpuOff | CpuSuspend | SystemOff | SystemReset | SystemSuspend | Undefined


@dataclass(frozen=True)
class Answer:
    """Registers to write (index -> 64-bit value) plus an optional machine effect.

    `why` is one short line a user can read: which rule of which spec/implementation
    produced this answer (shown by the REPL before the user accepts it)."""

    regs: dict[int, int] = field(default_factory=dict)
    effect: Effect | None = None
    why: str = ""
