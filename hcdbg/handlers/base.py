"""The contract between the engine and the built-in handlers: a call in, an answer out.

Handlers are pure: they read the call and a read-only view of the platform (vCPU MPIDRs
and power states) and return an `Answer` — registers to write and, for PSCI calls that
change the machine, an `Effect` the machine applies. They never touch Unicorn.
"""
from __future__ import annotations

from typing import Protocol

from hcdbg.smccc.call import Answer, Call, PowerState
from hcdbg.smccc.effects import (CpuOff, CpuOn, CpuSuspend, Effect, SystemOff, SystemReset,
                                 SystemSuspend, Undefined)

#: The call, answer and effect types live in smccc (every layer shares them); a handler
#: module finds its whole vocabulary here.
__all__ = ["Answer", "Call", "ClockPlatform", "CpuOff", "CpuOn", "CpuSuspend", "Effect", "Platform",
           "PowerState", "SystemOff", "SystemReset", "SystemSuspend", "Undefined"]


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
