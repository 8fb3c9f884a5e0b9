"""One virtual CPU: a Unicorn instance over the shared RAM, reset like QEMU's -kernel boot."""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from unicorn import UC_PROT_ALL, UcError
from unicorn import arm64_const as arm64
from unicorn.arm64_const import UC_CPU_ARM64_A57
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

from hcdbg.errors import UsageError
from hcdbg.machine import mmu
from hcdbg.machine import registers
from hcdbg.machine.access import access_base, virtual_address
from hcdbg.machine import exceptions
from hcdbg.machine.callregs import CallRegs, RegBatch
from hcdbg.machine.engine import new_engine
from hcdbg.machine.exactstop import ExactStops
from hcdbg.machine.pcalign import MisalignedPc
from hcdbg.smccc.call import PowerState

if TYPE_CHECKING:
    from hcdbg.machine.uart import Pl011

# SCR_EL3 = RW | HCE | NS and HCR_EL2.RW: HVC and SMC trap to the hook and a guest can turn
# its MMU on (reference unicorn-aarch64.md "CPU state at start").
SCR_EL3_VALUE = (1 << 10) | (1 << 8) | 1
HCR_EL2_VALUE = 1 << 31
PSTATE_EL1H_MASKED = 0x3C5  # EL1h, DAIF all masked
SCTLR_MMU_CACHES = (1 << 0) | (1 << 2) | (1 << 12)  # M, C, I

class Vcpu:
    """A vCPU: its Unicorn instance, MPIDR and PSCI power state."""

    def __init__(self, index: int, mpidr: int, memory: list[tuple[int, ctypes.Array]], uart: Pl011,
                 devices: list[tuple[int, int, int]]) -> None:
        self.index = index
        self.mpidr = mpidr
        self.state = PowerState.OFF
        self.counted = False  # was the last slice run with an instruction count?
        uc = new_engine()
        uc.ctl_set_cpu_model(UC_CPU_ARM64_A57)
        for base, block in memory:  # shared by every vCPU: one host buffer per region
            uc.mem_map_ptr(base, len(block), UC_PROT_ALL, ctypes.addressof(block))
        from hcdbg.machine.board import UART_BASE, UART_SIZE
        uc.mmio_map(UART_BASE, UART_SIZE,
                    lambda _uc, off, _size, _ud: uart.read(off), None,
                    lambda _uc, off, _size, value, _ud: uart.write(off, value), None)
        for base, size, fill in devices:  # present but silent devices: read `fill`, writes ignored
            uc.mmio_map(base, size, lambda _uc, _off, n, _ud, f=fill: f & ((1 << 8 * n) - 1), None,
                        lambda *_a: None, None)
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.SCR_EL3 + (SCR_EL3_VALUE,))
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.CNTHCTL_EL2 + (3,))
        # A non-secure EL1 guest reads MPIDR_EL1 from VMPIDR_EL2 (bit 31 is RES1).
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.VMPIDR_EL2 + (0x8000_0000 | mpidr,))
        uc.reg_write(arm64.UC_ARM64_REG_PSTATE, PSTATE_EL1H_MASKED)
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.HCR_EL2 + (HCR_EL2_VALUE,))
        sctlr = uc.reg_read(arm64.UC_ARM64_REG_CP_REG, registers.SYSREGS["sctlr_el1"])
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.SYSREGS["sctlr_el1"] + (sctlr & ~SCTLR_MMU_CACHES,))
        # Breakpoints are Unicorn exits: the translator ends a block before such an address,
        # an exact stop that needs no code hook (see exactstop.py, machine.py).
        uc.ctl_exits_enabled(True)  # type: ignore[attr-defined]  # generated at runtime
        uc.ctl_set_exits([])  # type: ignore[attr-defined]
        self.uc = uc
        self.exact_stops = ExactStops(uc)
        #: x0..x17 and PC in one C call, an answer written in one (the trap's fast path).
        self.call_regs = CallRegs(uc)
        #: An exception entry's reads and writes, one call each (exceptions.py, traps.py).
        self.entry_reads = RegBatch(uc, exceptions.ENTRY_READS)
        self.entry_writes = RegBatch(uc, exceptions.ENTRY_WRITES)
        self.qemu_syndrome = exceptions.QemuSyndrome(uc)
        self.misaligned = MisalignedPc(uc)  # a branch to a PC not a multiple of 4 (pcalign.py)
        #: (VBAR_EL1, whether it was in memory) when last checked, with the MMU off (traps.py).
        self.vectors_seen: tuple[int, bool] = (0, False)
        self._reset_context = uc.context_save()

    # --- reset -------------------------------------------------------------------------
    def power_on(self, entry: int, x0: int = 0) -> None:
        """Architectural reset to `entry`: EL1h, DAIF masked, MMU off, GPRs zero, x0 set."""
        uc = self.uc
        uc.context_restore(self._reset_context)
        uc.reg_write(arm64.UC_ARM64_REG_X0, x0)
        uc.reg_write(arm64.UC_ARM64_REG_PC, entry)
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.HCR_EL2 + (HCR_EL2_VALUE,))  # rebuild hflags
        uc.ctl_flush_tb()  # type: ignore[attr-defined]  # generated at runtime
        self._flush_tlb()
        self.state = PowerState.ON

    def enter(self, entry: int, x0: int) -> None:
        """Resume at `entry` with x0 from inside a hook (power-down suspend): EL1h, masked, MMU off."""
        uc = self.uc
        uc.reg_write(arm64.UC_ARM64_REG_X0, x0)
        uc.reg_write(arm64.UC_ARM64_REG_PSTATE, PSTATE_EL1H_MASKED)
        sctlr = uc.reg_read(arm64.UC_ARM64_REG_CP_REG, registers.SYSREGS["sctlr_el1"])
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.SYSREGS["sctlr_el1"] + (sctlr & ~SCTLR_MMU_CACHES,))
        uc.reg_write(arm64.UC_ARM64_REG_PC, entry)
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.HCR_EL2 + (HCR_EL2_VALUE,))
        self._flush_tlb()

    def _flush_tlb(self) -> None:
        """Drop every cached translation. Unicorn writes SCTLR_EL1 raw, without the TLB flush
        a guest's own write makes (QEMU sctlr_write), and with the MMU off the softmmu TLB
        still serves VA->PA from entries made with it on: a vCPU entering at a physical
        address (CPU_ON, power-down resume) would run through its old mappings."""
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    # --- registers -----------------------------------------------------------------------
    @property
    def pc(self) -> int:
        return self.uc.reg_read(arm64.UC_ARM64_REG_PC)

    @pc.setter
    def pc(self, value: int) -> None:
        self.uc.reg_write(arm64.UC_ARM64_REG_PC, value)

    @property
    def el(self) -> int:
        return (self.uc.reg_read(arm64.UC_ARM64_REG_PSTATE) >> 2) & 3

    def call_regs_pc(self) -> tuple[tuple[int, ...], int]:
        """(x0..x17, PC) in one go: what a trap needs."""
        return self.call_regs.read()

    def read(self, name: str) -> int:
        """A register by (canonical) name; w<n> reads the low 32 bits of x<n>."""
        canon = registers.canonical(name)
        if canon is None:
            raise UsageError(f"unknown register '{name}'")
        if canon[0] == "w":
            return self.uc.reg_read(registers.GPRS["x" + canon[1:]]) & 0xFFFF_FFFF
        if canon in registers.SYSREGS:
            return self.uc.reg_read(arm64.UC_ARM64_REG_CP_REG, registers.SYSREGS[canon])
        return self.uc.reg_read(registers.REGS[canon])

    def write(self, name: str, value: int) -> None:
        """Write a register by name (w<n> zero-extends into x<n>, as the architecture does)."""
        canon = registers.canonical(name)
        if canon is None:
            raise UsageError(f"unknown register '{name}'")
        if canon[0] == "w":
            self.uc.reg_write(registers.GPRS["x" + canon[1:]], value & 0xFFFF_FFFF)
        elif canon in registers.SYSREGS:
            if canon in ("mpidr_el1", "currentel"):
                raise UsageError(f"register '{canon}' is read-only")
            self.uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.SYSREGS[canon] + (value,))
        else:
            self.uc.reg_write(registers.REGS[canon], value & 0xFFFF_FFFF_FFFF_FFFF)
        if canon in ("pstate", "sctlr_el1"):
            self.uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.HCR_EL2 + (HCR_EL2_VALUE,))

    def read_vector(self, n: int) -> int:
        """SIMD&FP register v<n> (128 bits)."""
        return self.uc.reg_read(registers.VREGS[n])

    def write_vector(self, n: int, value: int) -> None:
        """Write SIMD&FP register v<n> (128 bits)."""
        self.uc.reg_write(registers.VREGS[n], value & ((1 << 128) - 1))

    def write_call_result(self, regs: dict[int, int]) -> None:
        """Write an answer: register index (0..17) -> 64-bit value."""
        self.call_regs.write(regs)

    def physical(self, address: int, size: int) -> list[tuple[int, int]]:
        """(physical address, length) pieces of [address, address + size) as this vCPU sees
        it: the range itself with its MMU off, else translated a 4 KiB page at a time (the
        smallest granule) through its stage 1 tables (mmu.py). UsageError if unmapped."""
        if not self.read("sctlr_el1") & mmu.SCTLR_M:
            return [(address, size)]
        tcr, ttbr0, ttbr1 = self.read("tcr_el1"), self.read("ttbr0_el1"), self.read("ttbr1_el1")
        uc = self.uc

        def read64(pa: int) -> int | None:
            try:
                return int.from_bytes(uc.mem_read(pa, 8), "little")
            except UcError:
                return None

        pieces = []
        end = address + size
        while address < end:
            n = min(end, (address | 0xFFF) + 1) - address
            pa = mmu.translate(address, tcr, ttbr0, ttbr1, read64)
            if pa is None:
                raise UsageError(f"cannot access memory at {address:#x}: not mapped by the "
                                 f"guest's page tables (vCPU {self.index})")
            pieces.append((pa, n))
            address += n
        return pieces

    def access_address(self, physical: int) -> int | None:
        """The virtual address at which the load/store at PC reached `physical`: the same
        with the MMU off, else the instruction's own address computation (access.py) placed
        on `physical`'s page offset; None if the instruction is not one access.py decodes."""
        if not self.read("sctlr_el1") & mmu.SCTLR_M:
            return physical
        pc = self.pc
        try:
            word = self.read_word(self.physical(pc, 4)[0][0])
        except UsageError:
            return None
        base = None if word is None else access_base(word, self._address_reg, pc)
        return None if base is None else virtual_address(physical, base)

    def _address_reg(self, n: int, sp: bool) -> int:
        """Register n as an address operand: 31 is SP as a base (`sp`), else XZR."""
        if n == 31:
            return self.uc.reg_read(arm64.UC_ARM64_REG_SP) if sp else 0
        return self.uc.reg_read(registers.GPRS[f"x{n}"])

    def read_word(self, address: int) -> int | None:
        """The 32-bit word at a (physical, MMU-off view) address, or None if unmapped."""
        try:
            return int.from_bytes(self.uc.mem_read(address, 4), "little")
        except UcError:
            return None
