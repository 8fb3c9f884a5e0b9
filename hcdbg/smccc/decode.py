"""Decoding of function IDs (DEN0028 §2.5) and of whole calls; never raises on unknown IDs."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hcdbg.smccc.catalog import lookup, service_of
from hcdbg.smccc.function import Function
from hcdbg.smccc.ids import (FID_FAST, FID_MBZ_MASK, FID_MBZ_SHIFT, FID_NUMBER_MASK,
                             FID_OEN_MASK, FID_OEN_SHIFT, FID_SMC64, MASK32, MASK64)

#: Names of the owning entities by OEN, DEN0028 §2.5 table 2-1.
_OWNERS = {
    0: "Arm Architecture",
    1: "CPU Service",
    2: "SiP",
    3: "OEM",
    4: "Standard Secure",
    5: "Standard Hypervisor",
    6: "Vendor Hypervisor",
    7: "Vendor EL3 Monitor",
}

#: Arguments shown for a function the catalog does not know: x1..x6, the argument
#: registers every SMCCC version has (DEN0028 §2.6).
_UNKNOWN_ARGS = 6


def owner_name(oen: int) -> str:
    """The owning entity of an OEN (0..63)."""
    if oen in _OWNERS:
        return _OWNERS[oen]
    if 48 <= oen <= 49:
        return "Trusted Application"
    if 50 <= oen <= 63:
        return "Trusted OS"
    return "Reserved"


def hex32(value: int) -> str:
    """A function ID or 32-bit value as hcdbg prints it: 0x84000003."""
    return f"0x{value & MASK32:08x}"


@dataclass(frozen=True)
class FunctionId:
    """The fields of a function ID (W0), DEN0028 §2.5 table 2-1."""

    fid: int
    fast: bool  # bit 31: fast (atomic) call; clear = yielding call
    smc64: bool  # bit 30: SMC64/HVC64 calling convention
    oen: int  # bits 29:24: owning entity number
    owner: str  # the owning entity's name
    number: int  # bits 15:0: function number
    mbz: int  # bits 23:16; must be zero in a fast call, bit 16 excepted since SMCCC 1.3
    sve_hint: bool  # bit 16 of a fast call: SMCCC 1.3 "SVE hint" (no SVE state above 128 bits)
    problems: tuple[str, ...]  # ways the ID breaks the convention; empty if compliant

    @property
    def compliant(self) -> bool:
        """True if the ID follows the SMCCC layout rules."""
        return not self.problems

    @property
    def width(self) -> str:
        """"SMC64" or "SMC32" (also the HVC conventions)."""
        return "SMC64" if self.smc64 else "SMC32"

    @property
    def call_type(self) -> str:
        """"fast" or "yielding"."""
        return "fast" if self.fast else "yielding"


def decode(fid: int) -> FunctionId:
    """The fields of function ID `fid`; only the low 32 bits (W0) count. Never raises."""
    fid &= MASK32
    fast = bool(fid & FID_FAST)
    oen = fid >> FID_OEN_SHIFT & FID_OEN_MASK
    mbz = fid >> FID_MBZ_SHIFT & FID_MBZ_MASK
    problems = []
    if fast and mbz >> 1:
        # SMCCC 1.3 made bit 16 the SVE hint; bits 23:17 stay MBZ, and TF-A treats a fast
        # call with any of them set as unknown (common/runtime_svc.c sync_handler).
        problems.append(f"bits 23:17 must be zero for a fast call (bits 23:16 are 0x{mbz:02x};"
                        " DEN0028 §2.5)")
    if 8 <= oen <= 47:
        problems.append(f"reserved owning entity {oen} (DEN0028 §2.5: OENs 8-47 are reserved)")
    return FunctionId(
        fid=fid,
        fast=fast,
        smc64=bool(fid & FID_SMC64),
        oen=oen,
        owner=owner_name(oen),
        number=fid & FID_NUMBER_MASK,
        mbz=mbz,
        sve_hint=fast and bool(mbz & 1),
        problems=tuple(problems),
    )


def arg_mask(fid: int) -> int:
    """The mask a callee applies to x1..x17 of a call to `fid`: 32 bits for an SMC32 ID
    (only W1..W7 are arguments, DEN0028 §2.6), else 64. PSCI 0.1 IDs predate SMCCC and
    take whole registers."""
    fid &= MASK32
    if fid & FID_SMC64:
        return MASK64
    function = lookup(fid)
    if function is not None and not function.smccc:
        return MASK64
    return MASK32


def arg_names(fid: int) -> tuple[str, ...]:
    """The names of the arguments a call to `fid` passes in x1, x2, ...: the catalog's, or
    w1..w6 / x1..x6 for an unknown function. Never raises."""
    function = lookup(fid & MASK32)
    if function is not None:
        return tuple(arg.name for arg in function.args)
    prefix = "w" if arg_mask(fid) == MASK32 else "x"
    return tuple(f"{prefix}{n}" for n in range(1, _UNKNOWN_ARGS + 1))


@dataclass(frozen=True)
class DecodedCall:
    """One call as a user reads it: the ID's fields, the function, its arguments."""

    fields: FunctionId
    function: Function | None
    args: tuple[tuple[str, int], ...]  # (name, value), values masked as the callee reads them
    conduit: str  # "hvc" or "smc"
    imm: int  # the HVC/SMC immediate
    problems: tuple[str, ...]  # ways the call breaks SMCCC
    notes: tuple[str, ...]  # things worth knowing that are not errors
    service: str  # short service name, or "unknown"

    @property
    def fid(self) -> int:
        """The function ID (W0)."""
        return self.fields.fid

    @property
    def name(self) -> str:
        """The function's name ("PSCI_CPU_ON"), or "UNKNOWN"."""
        return self.function.name if self.function else "UNKNOWN"

    @property
    def compliant(self) -> bool:
        """True if nothing about the call breaks SMCCC."""
        return not self.problems


def decode_call(fid: int, regs: Sequence[int] = (), imm: int = 0,
                conduit: str = "hvc") -> DecodedCall:
    """Decode a call: `fid` is W0, `regs` x0..x17 (missing registers read as 0), `imm` the
    instruction's immediate. Never raises."""
    fields = decode(fid)
    function = lookup(fields.fid)
    mask = arg_mask(fields.fid)
    narrow = mask == MASK32

    def reg(n: int) -> int:
        return regs[n] & MASK64 if n < len(regs) else 0

    names = arg_names(fields.fid)
    args = tuple((name, reg(n) & mask) for n, name in enumerate(names, 1))

    problems: list[str] = []
    notes: list[str] = []
    smccc_id = function is None or function.smccc
    if smccc_id:
        problems.extend(fields.problems)
    else:
        notes.append("PSCI 0.1 ID chosen by KVM/QEMU: it predates SMCCC, so its fields "
                     "(OEN 21, bits 23:16) mean nothing")
    if imm:
        problems.append(f"non-zero immediate #{imm}: reserved by SMCCC (DEN0028 §2.9)")
        if conduit == "smc":
            notes.append("KVM answers an SMC with a non-zero immediate with x0 = -1 and "
                         "does not handle the call (Linux arch/arm64/kvm/handle_exit.c)")
        else:
            notes.append("KVM does not check the HVC immediate (Linux "
                         "arch/arm64/kvm/handle_exit.c)")
    if reg(0) >> 32:
        notes.append(f"x0 bits 63:32 (0x{reg(0) >> 32:x}) are ignored: the function ID is W0 "
                     "(DEN0028 §2.5)")
    if narrow:
        for n in range(1, len(names) + 1):
            if reg(n) >> 32:
                notes.append(f"x{n} bits 63:32 (0x{reg(n) >> 32:x}) are ignored: an SMC32 "
                             "call passes W registers (DEN0028 §2.6)")
    if fields.sve_hint and smccc_id:
        notes.append("SVE hint set: the caller needs no SVE state above 128 bits preserved "
                     "(SMCCC 1.3)")
    return DecodedCall(fields, function, args, conduit, imm, tuple(problems), tuple(notes),
                       service_of(fields.fid))
