"""Effects: what an answer asks the machine to do besides writing registers (PSCI power
changes, an UNDEFINED conduit), each one class that says how it is applied and described.

An effect does its work through `EffectTarget`, the few verbs the machine offers, so this
module stays pure and adding an effect is one class here. `name` is the effect's spelling
in call scripts (`"effect": "CpuOn"`), kept stable for scripts already written.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol


class EffectTarget(Protocol):
    """What an effect may do to the machine; `caller` is the calling vCPU's index.

    Every verb runs inside the trap hook (or on a stopped machine) and ends the caller's
    slice where the power state changed, so the scheduler sees it."""

    def power_on_vcpu(self, caller: int, target: int, entry: int, context_id: int) -> None:
        """Start vCPU `target` at `entry` (EL1h, MMU off) with x0 = context_id."""
        ...

    def power_off_vcpu(self, caller: int) -> None:
        """Power the caller off."""
        ...

    def suspend_vcpu(self, caller: int, entry: int | None, context_id: int) -> None:
        """Yield the caller; with an `entry` it resumes there with x0 = context_id."""
        ...

    def end_run(self, caller: int, reset: bool, reason: str) -> None:
        """End the run: the machine is off, or (`reset`) restarts the guest (or stops,
        as QEMU's -no-reboot)."""
        ...

    def undefined_instruction(self, caller: int) -> None:
        """The caller takes an undefined-instruction exception at its HVC/SMC."""
        ...


class Effect:
    """Base of the effects: apply to a machine, describe in words, and whether the call
    returns to its caller (`no_return`: the result text when it does not)."""

    name: ClassVar[str]
    no_return: ClassVar[str | None] = None

    def apply(self, target: EffectTarget, caller: int) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """What the effect does to the machine, as a line under the answer."""
        raise NotImplementedError


@dataclass(frozen=True)
class CpuOn(Effect):
    """Start vCPU `target` (index) at `entry`, EL1h, MMU off, DAIF masked, x0 = context_id."""

    target: int
    entry: int
    context_id: int
    name: ClassVar[str] = "CpuOn"

    def apply(self, target: EffectTarget, caller: int) -> None:
        target.power_on_vcpu(caller, self.target, self.entry, self.context_id)

    def describe(self) -> str:
        return f"then starts vCPU {self.target} at {self.entry:#x} (x0 = {self.context_id:#x})"


@dataclass(frozen=True)
class CpuOff(Effect):
    """Power the calling vCPU off (it does not return, DEN0022 §5.1.3)."""

    name: ClassVar[str] = "CpuOff"
    no_return: ClassVar[str | None] = "(does not return: CPU off)"

    def apply(self, target: EffectTarget, caller: int) -> None:
        target.power_off_vcpu(caller)

    def describe(self) -> str:
        return "then powers this vCPU off"


@dataclass(frozen=True)
class CpuSuspend(Effect):
    """Power-down suspend of the caller: it resumes at `entry` with x0 = context_id.

    None for `entry` means standby: the call simply returns (after a WFI-like yield)."""

    entry: int | None = None
    context_id: int = 0
    name: ClassVar[str] = "CpuSuspend"

    def apply(self, target: EffectTarget, caller: int) -> None:
        target.suspend_vcpu(caller, self.entry, self.context_id)

    @property  # type: ignore[override]
    def no_return(self) -> str | None:
        """A power-down suspend returns only through its entry point (DEN0022D.b §5.4)."""
        if self.entry is None:
            return None
        return f"(does not return: resumes at {self.entry:#x}, x0 = {self.context_id:#x}, on an interrupt)"

    def describe(self) -> str:
        if self.entry is None:
            return "then suspends this vCPU"
        return f"then suspends this vCPU; it wakes at {self.entry:#x}"


@dataclass(frozen=True)
class SystemSuspend(Effect):
    """Whole-system suspend: resume the caller at `entry` with x0 = context_id."""

    entry: int
    context_id: int
    name: ClassVar[str] = "SystemSuspend"

    def apply(self, target: EffectTarget, caller: int) -> None:
        target.suspend_vcpu(caller, self.entry, self.context_id)

    @property  # type: ignore[override]
    def no_return(self) -> str | None:
        return f"(does not return: resumes at {self.entry:#x}, x0 = {self.context_id:#x}, on a wake-up)"

    def describe(self) -> str:
        return f"then suspends the system; it wakes at {self.entry:#x}"


@dataclass(frozen=True)
class _RunEnd(Effect):
    """An effect that ends the run; `kind` names the call (the catalog's name)."""

    kind: str
    reset: ClassVar[bool]
    done: ClassVar[str]  # the stop's reason, before the kind
    does: ClassVar[str]  # what it does, for describe()

    def apply(self, target: EffectTarget, caller: int) -> None:
        target.end_run(caller, self.reset, f"{self.done} ({self.kind})")

    def describe(self) -> str:
        return f"then {self.does} ({self.kind})"


@dataclass(frozen=True)
class SystemOff(_RunEnd):
    """End the run: the machine powered off (PSCI_SYSTEM_OFF, PSCI_SYSTEM_OFF2; DEN0022 §5.1.9)."""

    kind: str = "PSCI_SYSTEM_OFF"
    name: ClassVar[str] = "SystemOff"
    no_return: ClassVar[str | None] = "(does not return: system off)"
    reset: ClassVar[bool] = False
    done: ClassVar[str] = "guest powered off"
    does: ClassVar[str] = "powers the machine off"


@dataclass(frozen=True)
class SystemReset(_RunEnd):
    """Restart the guest from its image (PSCI_SYSTEM_RESET, PSCI_SYSTEM_RESET2; DEN0022 §5.1.10)."""

    kind: str = "PSCI_SYSTEM_RESET"
    name: ClassVar[str] = "SystemReset"
    no_return: ClassVar[str | None] = "(does not return: system reset)"
    reset: ClassVar[bool] = True
    done: ClassVar[str] = "guest reset"
    does: ClassVar[str] = "resets the machine"


@dataclass(frozen=True)
class Undefined(Effect):
    """The instruction is UNDEFINED for this callee: the guest takes an undefined-instruction
    exception instead of an answer (what QEMU's TCG does for the conduit it does not emulate,
    reference §5.1)."""

    name: ClassVar[str] = "Undefined"
    no_return: ClassVar[str | None] = "UNDEFINED (the guest takes an undefined-instruction exception)"

    def apply(self, target: EffectTarget, caller: int) -> None:
        target.undefined_instruction(caller)

    def describe(self) -> str:
        return "the guest takes an undefined-instruction exception instead"
