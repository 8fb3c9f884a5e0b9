"""A small real Platform for handler tests, and a builder for calls."""
from __future__ import annotations

from dataclasses import dataclass, field

from hcdbg.handlers.base import Call, PowerState

ON, OFF, PENDING = PowerState.ON, PowerState.OFF, PowerState.ON_PENDING
MASK64 = (1 << 64) - 1


def u64(value: int) -> int:
    """A signed return code as the 64-bit register a guest reads."""
    return value & MASK64


@dataclass
class Board:
    """vCPUs by index: MPIDR affinity values and power states (vCPU 0 on, the rest off)."""

    mpidr: tuple[int, ...] = (0x0, 0x1, 0x2, 0x3)
    states: list[PowerState] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.states:
            self.states = [ON] + [OFF] * (len(self.mpidr) - 1)

    def mpidrs(self) -> tuple[int, ...]:
        return self.mpidr

    def power_state(self, index: int) -> PowerState:
        return self.states[index]


@dataclass
class ClockBoard(Board):
    """A Board that can also answer KVM's PTP call (handlers.base.ClockPlatform)."""

    wall_ns: int = 1_700_000_000_123_456_789
    virtual: int = 0x1234_5678_9ABC
    physical: int = 0x2234_5678_9ABC

    def clock_snapshot(self, index: int, physical: bool) -> tuple[int, int]:
        return self.wall_ns, self.physical if physical else self.virtual


def call(fid: int, x1: int = 0, x2: int = 0, x3: int = 0, *, x0: int | None = None,
         conduit: str = "hvc", imm: int = 0, vcpu: int = 0) -> Call:
    """A call as the machine builds it: fid = w0, regs = x0..x17 (x4..x17 = 0)."""
    regs = (fid if x0 is None else x0, x1, x2, x3) + (0,) * 14
    return Call(fid & 0xFFFF_FFFF, regs, conduit, imm, vcpu)  # type: ignore[arg-type]
