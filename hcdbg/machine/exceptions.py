"""Architectural delivery of synchronous exceptions to the guest's own EL1 vector table.

Unicorn hands every exception to the interrupt hook and skips QEMU's exception entry
(reference unicorn-aarch64.md "Exceptions are not delivered"), so this module does what
the Arm ARM (DDI 0487, D1.10 "Exception entry") says the PE does on a synchronous
exception taken to EL1: ESR_EL1, ELR_EL1, SPSR_EL1, FAR_EL1 (aborts), PSTATE = EL1h with
DAIF masked, the SP switch, and PC = VBAR_EL1 + offset.
"""
from __future__ import annotations

import ctypes
import struct
from functools import cache
from typing import TYPE_CHECKING, Callable, NamedTuple

from hcdbg.machine.engine import new_engine
from hcdbg.stop import CATCH_NAMES
from unicorn import UC_HOOK_INTR, Uc, UcError
from unicorn import arm64_const as arm64

from hcdbg.machine.callregs import context_refresher

if TYPE_CHECKING:
    from unicorn.unicorn import UcContext

# ESR_ELx.EC values (DDI 0487 D17.2.37)
EC_UNKNOWN = 0x00
EC_SVC64 = 0x15
EC_HVC64 = 0x16
EC_SMC64 = 0x17
EC_PC_ALIGNMENT = 0x22
EC_IABT_LOWER = 0x20  # instruction abort from a lower EL; +1: from the same EL
EC_DABT_LOWER = 0x24  # data abort from a lower EL; +1: from the same EL
EC_BRK = 0x3C
ESR_IL = 1 << 25
# ISS of an abort (D17.2.37, "ISS encoding for an exception from an Instruction/Data Abort")
FSC_SYNC_EXTERNAL = 0b010000  # IFSC/DFSC: synchronous external abort, not on a table walk
ISS_WNR = 1 << 6  # data abort: caused by a write

# Unicorn/QEMU intno values (reference: "intno 11 = HVC, 13 = SMC", others seen).
INTNO_UDEF = 1
INTNO_SVC = 2
INTNO_PREFETCH_ABORT = 3
INTNO_DATA_ABORT = 4
INTNO_BKPT = 7
INTNO_HVC = 11
INTNO_SMC = 13

EXCEPTION_NAMES = {
    INTNO_UDEF: "undefined instruction",
    INTNO_SVC: "SVC",
    INTNO_PREFETCH_ABORT: "prefetch abort",
    INTNO_DATA_ABORT: "data abort",
    INTNO_BKPT: "BRK",
}

assert set(CATCH_NAMES.values()) <= set(EXCEPTION_NAMES.values())

SPSR_EL1 = (4, 0, 3, 0, 0)  # CP_REG tuple (crn, crm, op0, op1, op2)
SCTLR_EL1 = (1, 0, 3, 0, 0)
HCR_EL2 = (1, 1, 3, 4, 0)
PSTATE_DAIF = 0xF << 6
PSTATE_EL1H = 0b0101


class Syndrome(NamedTuple):
    """What the exception entry writes: class, ISS, the return address, the fault address.
    (A NamedTuple: one is made for each exception the guest takes.)"""

    ec: int
    iss: int
    elr: int
    far: int | None = None

    @property
    def esr(self) -> int:
        return (self.ec << 26) | ESR_IL | (self.iss & 0x1FF_FFFF)


def external_abort(fetch: bool, write: bool, el: int, elr: int, far: int) -> Syndrome:
    """The synchronous external abort of an access with nothing behind it (D17.2.37): an
    instruction abort for a fetch, else a data abort (WnR for a write), from EL0 ("lower
    EL") or EL1, FSC 0b010000. ISV, EA and S1PTW stay 0, as QEMU 7.2 reports an access
    that decodes to no device to an EL1 guest (ESR 0x86000010, 0x96000010, 0x96000050)."""
    ec = (EC_IABT_LOWER if fetch else EC_DABT_LOWER) + (el != 0)
    return Syndrome(ec, FSC_SYNC_EXTERNAL | (ISS_WNR if write else 0), elr, far)


def pc_alignment(pc: int) -> Syndrome:
    """A PC alignment fault at `pc` (D1.3.5; QEMU's syn_pcalignment: EC 0x22, IL, ISS 0),
    with FAR = ELR = `pc`, as QEMU 7.2 reports it."""
    return Syndrome(EC_PC_ALIGNMENT, 0, pc, pc)


def vector_offset(pstate: int) -> int:
    """Offset into the vector table for a synchronous exception taken to EL1 (D1.10.2)."""
    el = (pstate >> 2) & 3
    if el == 0:
        return 0x400  # lower EL, AArch64
    return 0x200 if pstate & 1 else 0x000  # current EL with SP_ELx / SP_EL0


class EntryState(NamedTuple):
    """What an exception entry reads of the CPU (ENTRY_READS, in this order)."""

    pc: int
    pstate: int
    vbar: int
    sp: int
    sp_el0: int
    sp_el1: int
    far: int
    sctlr: int


#: The registers of EntryState, and those `entry_values` gives, in order (read and written
#: in one call each: callregs.RegBatch).
ENTRY_READS = (arm64.UC_ARM64_REG_PC, arm64.UC_ARM64_REG_PSTATE, arm64.UC_ARM64_REG_VBAR_EL1,
               arm64.UC_ARM64_REG_SP, arm64.UC_ARM64_REG_SP_EL0, arm64.UC_ARM64_REG_SP_EL1,
               arm64.UC_ARM64_REG_FAR_EL1, SCTLR_EL1)
ENTRY_WRITES = (arm64.UC_ARM64_REG_ESR_EL1, arm64.UC_ARM64_REG_ELR_EL1, arm64.UC_ARM64_REG_FAR_EL1,
                arm64.UC_ARM64_REG_SP_EL0, arm64.UC_ARM64_REG_PSTATE, arm64.UC_ARM64_REG_SP,
                arm64.UC_ARM64_REG_PC, SPSR_EL1, HCR_EL2)


def entry_values(cpu: EntryState, syn: Syndrome, hcr_el2: int) -> tuple[int, ...]:
    """The ENTRY_WRITES values that take `syn` to the guest's EL1 sync vector from `cpu`.

    FAR_EL1 changes only for an abort (written back as it was otherwise). Unicorn does not
    bank SP on a PSTATE write: the live SP goes into its bank (SP_EL0 unless already on
    SP_EL1) and SP_EL1 is loaded by hand, so the guest's ERET (QEMU's own helper) finds
    consistent banks. The last write, HCR_EL2 through CP_REG, rebuilds QEMU's cached hflags
    after the PSTATE change (reference unicorn-aarch64.md)."""
    pstate = cpu.pstate
    uses_sp_el0 = ((pstate >> 2) & 3) == 0 or not pstate & 1
    sp_el0, new_sp = (cpu.sp, cpu.sp_el1) if uses_sp_el0 else (cpu.sp_el0, cpu.sp)
    new_pstate = (pstate & ~0x3CF & 0xFFFF_FFFF) | PSTATE_DAIF | PSTATE_EL1H
    return (syn.esr, syn.elr, cpu.far if syn.far is None else syn.far, sp_el0, new_pstate,
            new_sp, cpu.vbar + vector_offset(pstate), pstate, hcr_el2)


def loops(cpu: EntryState, syn: Syndrome, values: tuple[int, ...]) -> bool:
    """Whether the exception just entered (ENTRY_WRITES `values`) is taken at the vector it
    enters, from the state that entry leaves (EL1h, DAIF masked): that instruction then
    takes the same exception again and again and nothing else changes (interrupts are
    masked), as a vector table of zeros (UDF) does. The guest never leaves it."""
    return syn.elr == values[6] and values[4] == cpu.pstate and syn.far in (None, cpu.far)


# --- the syndrome QEMU computed -------------------------------------------------------------
# For aborts the ISS (fault status, WnR) and the faulting address exist only inside QEMU's
# CPUARMState.exception {u32 syndrome; u32 fsr; u64 vaddress}, which Unicorn does not
# expose - but a saved context is a byte copy of that state. We find the field's offset
# once per process by taking two SVCs with known syndromes (EC 0x15, IL, imm16) in a
# scratch CPU, and read the real ESR/FAR of an abort from there.


def _svc(imm: int) -> int:
    return 0xD400_0001 | (imm << 5)


@cache
def syndrome_offset() -> int | None:
    """Offset of CPUARMState.exception.syndrome in a saved context, or None if not found."""
    seen: list[bytes] = []
    try:
        uc = new_engine()
        uc.mem_map(0x1000, 0x1000)
        uc.mem_write(0x1000, struct.pack("<II", _svc(0x1234), _svc(0x4321)))

        def hook(uc: Uc, _intno: int, _ud: object) -> None:
            ctx = uc.context_save()
            seen.append(ctypes.string_at(ctx.context, ctx.size))

        uc.hook_add(UC_HOOK_INTR, hook)
        uc.emu_start(0x1000, 0x1008, count=2)
    except (UcError, AttributeError, TypeError):  # a binding without raw contexts
        return None
    if len(seen) != 2:
        return None
    want = [struct.pack("<I", (EC_SVC64 << 26) | ESR_IL | imm) for imm in (0x1234, 0x4321)]
    hits = [i for i in range(0, len(seen[0]) - 16, 4)
            if seen[0][i:i + 4] == want[0] and seen[1][i:i + 4] == want[1]]
    return hits[0] if len(hits) == 1 else None


class QemuSyndrome:
    """(ESR syndrome, fault address) of the exception a vCPU is taking, as QEMU computed
    them: one saved context per vCPU, saved again over itself for each exception."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._view: ctypes.Array | None = None
        self._refresh: Callable[[], None] = lambda: None
        self._context: UcContext | None = None  # kept alive: _view is its memory

    def read(self) -> tuple[int, int] | None:
        off = syndrome_offset()
        if off is None:
            return None
        if self._view is None:
            self._context = ctx = self._uc.context_save()
            self._view = (ctypes.c_char * ctx.size).from_address(ctx.context.value)  # type: ignore[attr-defined]
            self._refresh = context_refresher(self._uc, ctx)
        else:
            self._refresh()
        syndrome, _fsr, vaddress = _SYNDROME.unpack_from(self._view, off)
        return syndrome, vaddress


_SYNDROME = struct.Struct("<IIQ")  # CPUARMState.exception {u32 syndrome; u32 fsr; u64 vaddress}
