"""The value types of the function catalog: one `Function` per function ID, with its `Arg`s."""
from __future__ import annotations

from dataclasses import dataclass

from hcdbg.smccc.ids import FID_SMC64


@dataclass(frozen=True)
class Arg:
    """One argument register of a call: x1 for the first, x2 for the second, ..."""

    name: str
    meaning: str


@dataclass(frozen=True)
class Function:
    """What the specs say about one function ID.

    A function with both an SMC32 and an SMC64 ID has two entries sharing `name`;
    `smc64` (bit 30 of the ID, DEN0028 §2.5) tells them apart.
    """

    fid: int
    name: str
    service: str  # short service name, a key of catalog.SERVICES
    args: tuple[Arg, ...]
    result: str  # what x0 (and x1.. if used) hold on success
    returns: tuple[str, ...]  # return-code names (retcodes table of `service`) it can give
    since: str  # e.g. "PSCI 0.2", "SMCCC 1.1"
    spec: str  # document and section, e.g. "DEN0022D.b §5.1.4"
    summary: str  # one or two sentences for teaching
    kvm: str = ""  # how Linux KVM answers it (reference §4.5), if known
    qemu: str = ""  # how QEMU's TCG PSCI emulation answers it (reference §5.2), if known
    smccc: bool = True  # False for PSCI 0.1 IDs, which predate SMCCC and ignore its ID layout

    @property
    def smc64(self) -> bool:
        """True for an SMC64/HVC64 ID (bit 30 set)."""
        return bool(self.fid & FID_SMC64)

    @property
    def width(self) -> str:
        """"SMC64" or "SMC32" (the same IDs are used through HVC)."""
        return "SMC64" if self.smc64 else "SMC32"

    @property
    def narrow_args(self) -> bool:
        """True if the callee must read only W1..W7 (an SMC32 SMCCC ID, DEN0028 §2.6)."""
        return self.smccc and not self.smc64
