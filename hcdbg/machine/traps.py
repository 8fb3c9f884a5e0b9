"""What a vCPU's Unicorn hooks do: HVC/SMC handed to the session, synchronous exceptions
and aborts delivered to the guest's vectors (or turned into stops), accesses to nothing.

A mixin of Machine: the hooks run inside `emu_start`, never raise into Unicorn (an error
is kept and re-raised after the run), and record a stop instead of returning one.
"""
from __future__ import annotations

import mmap
import struct
from typing import TYPE_CHECKING, Callable

from unicorn import Uc, UcError
from unicorn import unicorn_const as UCC

from hcdbg.machine import board
from hcdbg.machine import exceptions as exc_entry
from hcdbg.stop import Stop, StopKind
from hcdbg.machine.callregs import CallRegs
from hcdbg.machine.fastcalls import FastPath
from hcdbg.machine.native import NativeCalls
from hcdbg.machine.vcpu import HCR_EL2_VALUE, Vcpu
from hcdbg.smccc.call import Call

if TYPE_CHECKING:
    from hcdbg.machine.machine import MachineConfig, _Pending

UNMAPPED = (UCC.UC_ERR_FETCH_UNMAPPED, UCC.UC_ERR_READ_UNMAPPED, UCC.UC_ERR_WRITE_UNMAPPED)
_U32 = struct.Struct("<I").unpack_from


class Traps:
    """The hooks of Machine's vCPUs (see Machine.__init__ for the state they use)."""

    vcpus: list[Vcpu]
    config: MachineConfig
    on_call: Callable[[Vcpu, Call], bool]
    fast_calls: FastPath | None
    native: NativeCalls | None
    _pending: list[_Pending]
    _fault: list[tuple[int, int, int] | None]
    _before_store: list[object | None]
    _mmap: mmap.mmap
    _ram_size: int
    exceptions_delivered: bool

    def _stop(self, vcpu: Vcpu, kind: StopKind, reason: str, trap: Call | None = None) -> None:
        p = self._pending[vcpu.index]
        if p.stop is None:
            p.stop = Stop(kind, vcpu.index, vcpu.pc, reason, trap)
        vcpu.uc.emu_stop()

    def _on_intr(self, _uc: object, intno: int, index: int) -> None:
        """The UC_HOOK_INTR hook of vCPU `index` (`_uc`: its Uc or libunicorn's handle)."""
        try:
            native = self.native
            if native is not None and native.header.records:
                native.drain()  # calls the C hook answered come first (native.py)
            fast = self.fast_calls
            read = None
            if fast is not None:
                read = fast(intno, index)
                if read:
                    return
            vcpu = self.vcpus[index]  # not before: the fast path needs neither
            if intno == exc_entry.INTNO_HVC or intno == exc_entry.INTNO_SMC:
                # The fast path's read stands (False): not a second read of 19 registers.
                regs, pc = (vcpu.call_regs_pc() if read is None
                            else CallRegs.unpack(vcpu.call_regs.batch[3]))  # type: ignore[index]
                pc -= 4
                call = Call(regs[0] & 0xFFFF_FFFF, regs, "hvc" if intno == exc_entry.INTNO_HVC else "smc",
                            self._immediate(vcpu, pc), index, pc)
                if not self.on_call(vcpu, call):
                    self._stop(vcpu, StopKind.CALL, f"{call.conduit.upper()} call", call)
                return
            cpu = exc_entry.EntryState._make(vcpu.entry_reads.read())
            syn = self._syndrome(vcpu, intno, cpu.pc)
            if syn is None:
                self._stop(vcpu, StopKind.FAULT,
                           f"{exc_entry.EXCEPTION_NAMES.get(intno, f'exception {intno}')} at {cpu.pc:#x}: "
                           "hcdbg cannot tell its syndrome on this Unicorn build")
                return
            self._exception(vcpu, intno, syn, cpu)
        except BaseException as exc:  # noqa: BLE001 - re-raised after emu_start returns
            self._pending[index].error = exc
            self.vcpus[index].uc.emu_stop()

    def _syndrome(self, vcpu: Vcpu, intno: int, pc: int) -> exc_entry.Syndrome | None:
        """ESR, ELR and FAR of a synchronous exception other than HVC/SMC.

        The hook's PC is already the preferred return address (past an SVC, at a BRK, an
        undefined instruction or a faulting access), so it is ELR. ESR and FAR are the ones
        QEMU computed; only if this Unicorn build hides them are SVC/BRK/UDF rebuilt from
        the instruction word (which needs a PC readable as a physical address)."""
        if intno not in exc_entry.EXCEPTION_NAMES:
            return None
        real = vcpu.qemu_syndrome.read()
        if real is not None:
            esr, far = real
            aborts = (exc_entry.INTNO_PREFETCH_ABORT, exc_entry.INTNO_DATA_ABORT)
            return exc_entry.Syndrome(esr >> 26, esr & 0x1FF_FFFF, pc, far if intno in aborts else None)
        if intno == exc_entry.INTNO_UDEF:
            return exc_entry.Syndrome(exc_entry.EC_UNKNOWN, 0, pc)
        if intno in (exc_entry.INTNO_SVC, exc_entry.INTNO_BKPT):
            word = vcpu.read_word(pc - 4 if intno == exc_entry.INTNO_SVC else pc) or 0
            ec = exc_entry.EC_SVC64 if intno == exc_entry.INTNO_SVC else exc_entry.EC_BRK
            return exc_entry.Syndrome(ec, (word >> 5) & 0xFFFF, pc)
        return None

    def _immediate(self, vcpu: Vcpu, pc: int) -> int:
        """The imm16 of the HVC/SMC at `pc`: from the instruction word when `pc` is a RAM
        address (MMU off or identity-mapped: no Unicorn call), else from the syndrome QEMU
        computed (ESR ISS = imm16 for HVC64/SMC64), as a kernel's virtual PC is not a
        physical address that mem_read could read."""
        off = pc - board.RAM_BASE
        if 0 <= off < self._ram_size:
            return (_U32(self._mmap, off)[0] >> 5) & 0xFFFF
        real = vcpu.qemu_syndrome.read()
        if real is not None and real[0] >> 26 in (exc_entry.EC_HVC64, exc_entry.EC_SMC64):
            return real[0] & 0xFFFF
        try:
            return (int.from_bytes(vcpu.uc.mem_read(pc, 4), "little") >> 5) & 0xFFFF
        except UcError:
            return 0  # unknowable; SMCCC callers use #0

    def _exception(self, vcpu: Vcpu, intno: int, syn: exc_entry.Syndrome,
                   cpu: exc_entry.EntryState | None = None) -> None:
        """Deliver `syn` to the guest's vectors (`cpu`: the vCPU as the hook read it), or
        stop: caught, or no vectors to take it."""
        name = exc_entry.EXCEPTION_NAMES.get(intno, f"exception {intno}")
        if cpu is None:
            cpu = exc_entry.EntryState._make(vcpu.entry_reads.read())
        if name in self.config.catch or not self._has_vectors(vcpu, cpu):
            why = ("caught" if name in self.config.catch
                   else f"the guest has no vector table (VBAR_EL1 = {cpu.vbar:#x})")
            at = syn.elr - 4 if syn.ec in (exc_entry.EC_SVC64, exc_entry.EC_HVC64, exc_entry.EC_SMC64) else syn.elr
            vcpu.pc = syn.elr
            far = f", FAR {syn.far:#x}" if syn.far is not None else ""
            self._stop(vcpu, StopKind.EXCEPTION, f"{name} at {at:#x} (ESR {syn.esr:#x}{far}): {why}")
            return
        self.exceptions_delivered = True  # machine.run: no more time slices from now on
        values = exc_entry.entry_values(cpu, syn, HCR_EL2_VALUE)
        vcpu.entry_writes.write(values)
        if exc_entry.loops(cpu, syn, values):
            self._stop(vcpu, StopKind.EXCEPTION,
                       f"exception loop: {name} at {syn.elr:#x}, the vector's own first instruction "
                       f"(ESR {syn.esr:#x}): each entry takes the same exception again, for ever")

    def _pc_alignment(self, vcpu: Vcpu) -> None:
        """The slice ended before a block at a misaligned PC ran (pcalign.py): the vCPU takes
        a PC alignment fault there, as a prefetch abort (QEMU's EXCP_PREFETCH_ABORT)."""
        pc = vcpu.misaligned.take()
        if pc is not None and vcpu.pc == pc:
            self._exception(vcpu, exc_entry.INTNO_PREFETCH_ABORT, exc_entry.pc_alignment(pc))

    @staticmethod
    def _has_vectors(vcpu: Vcpu, cpu: exc_entry.EntryState) -> bool:
        """VBAR_EL1 is set and, with the MMU off, in memory (the board's memory map never
        changes, so the answer for one VBAR_EL1 is kept). With the MMU on VBAR_EL1 is a
        virtual address we cannot check; trust the guest."""
        vbar = cpu.vbar
        if vbar == 0 or cpu.sctlr & 1:
            return vbar != 0
        if vcpu.vectors_seen[0] != vbar:
            vcpu.vectors_seen = (vbar, vcpu.read_word(vbar + 0x200) is not None)
        return vcpu.vectors_seen[1]

    def _abort(self, vcpu: Vcpu, exc: UcError) -> Stop | None:
        """An access with nothing behind it, as QEMU and KVM treat it: the guest takes a
        synchronous external abort (Arm ARM D17.2.37) with ELR at the access and FAR its
        virtual address (a fetch's is the PC). `--catch iabt|dabt` stops before delivery; a
        guest without vectors, or an access whose virtual address cannot be told (with the
        MMU on, see Vcpu.access_address), gets a fault stop naming the access instead."""
        fault = self._fault[vcpu.index]
        fetch = exc.errno == UCC.UC_ERR_FETCH_UNMAPPED
        intno = exc_entry.INTNO_PREFETCH_ABORT if fetch else exc_entry.INTNO_DATA_ABORT
        pc = vcpu.pc
        far = pc if fetch else vcpu.access_address(fault[1]) if fault else None
        cpu = exc_entry.EntryState._make(vcpu.entry_reads.read())
        if far is None or not (exc_entry.EXCEPTION_NAMES[intno] in self.config.catch or self._has_vectors(vcpu, cpu)):
            return self._fault_stop(vcpu, exc)
        self._fault[vcpu.index] = None
        write = exc.errno == UCC.UC_ERR_WRITE_UNMAPPED
        self._exception(vcpu, intno, exc_entry.external_abort(fetch, write, vcpu.el, pc, far), cpu)
        p = self._pending[vcpu.index]
        stop, p.stop = p.stop, None
        return stop

    def _on_unmapped(self, uc: Uc, access: int, address: int, size: int, _value: int, index: int) -> bool:
        """An access to nothing: remember it; Unicorn then ends the run with an error.

        A load or fetch ends the run at once, exactly. A store does not: Unicorn goes on to
        the end of the translated block when its per-access stop check is off (exactstop.py).
        Unicorn has put the PC on the store before calling us, so the CPU state saved here
        is the one the abort must see, and is put back when the run ends. Stores later in
        that block may have been made; a handler that resumes after the store makes them
        again with the same registers."""
        if self._before_store[index] is not None:
            return False  # a later access of the same block: the first one is the fault
        self._fault[index] = (access, address, size)
        if access == UCC.UC_MEM_WRITE_UNMAPPED:
            self._before_store[index] = uc.context_save()
        return False

    def _fault_stop(self, vcpu: Vcpu, exc: UcError) -> Stop:
        fault, self._fault[vcpu.index] = self._fault[vcpu.index], None
        pc = vcpu.pc
        what = {UCC.UC_ERR_FETCH_UNMAPPED: "instruction fetch from unmapped memory",
                UCC.UC_ERR_READ_UNMAPPED: "read from unmapped memory",
                UCC.UC_ERR_WRITE_UNMAPPED: "write to unmapped memory",
                UCC.UC_ERR_INSN_INVALID: "invalid instruction",
                UCC.UC_ERR_EXCEPTION: "unhandled exception"}.get(exc.errno, str(exc))
        where = f" at {fault[1]:#x}" if fault else ""
        return Stop(StopKind.FAULT, vcpu.index, pc, f"{what}{where} (pc {pc:#x})")
