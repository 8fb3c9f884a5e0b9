"""A vCPU's IRQ input: the interrupt controller's nIRQ line into Unicorn's own exception entry.

Why: Unicorn has no API to raise an interrupt, but it kept QEMU's whole path for one.
QEMU's GIC raises a CPU's IRQ by setting CPU_INTERRUPT_HARD in `CPUState.interrupt_request`
(`cpu_interrupt`); the execution loop then calls `arm_cpu_exec_interrupt` between translated
blocks, which takes the IRQ only when PSTATE.I (and SCR/HCR routing) allow it and enters
it exactly as the architecture says (VBAR_EL1 + 0x280 from EL1 with SP_EL1, + 0x480 from
EL0; ELR, SPSR, DAIF masked: DDI 0487 D1.10). A DAIF write ends its block, so an IRQ that
was masked is taken right after the instruction that unmasks it, and WFI does not halt while
an IRQ is pending (`arm_cpu_has_work`). Doing the same from Python at slice boundaries could
only poll for the unmask; a guest that unmasks, then masks again before WFI (Linux's idle
loop) would never take its interrupt.

What: the field is not public API. `uc_struct.cpu` is found once per process among the
pointers of a fresh engine's struct (a pointer into mapped memory whose target starts like a
CPUState: nr_cores 1, nr_threads 1, cflags_next_tb -1); `interrupt_request` follows those at
offset 28 (include/hw/core/cpu.h: two ints, a pointer, seven bools, cflags_next_tb). Then it
is proven by behaviour in a scratch engine: with the bit set and PSTATE.I clear, the next
instruction executed is the IRQ vector's. If that fails, `available()` is False and the
machine runs guests without interrupt delivery (and says so).

A caveat the machine handles: Unicorn ends emulation at an exit (hcdbg's breakpoints) by
imitating WFI there, and WFI does not halt while an IRQ is pending, so a vCPU that reaches a
breakpoint with a masked IRQ pending spins there until its slice is ended from outside.
"""
from __future__ import annotations

import ctypes
import struct
from functools import cache

from unicorn import Uc, UcError
from unicorn import arm64_const as arm64

from hcdbg.machine import callregs, registers
from hcdbg.machine.engine import new_engine

CPU_INTERRUPT_HARD = 0x0002  # QEMU include/exec/cpu-all.h: the IRQ line
_REQUEST_OFFSET = 28  # CPUState.interrupt_request
_CFLAGS_OFFSET = 24  # CPUState.cflags_next_tb, -1 when nothing is asked of the next block
_SCAN = 4096  # bytes of uc_struct searched (the pointer sits near offset 440 in 2.1.4)
_NOP = 0xD503201F


def _mapped() -> list[tuple[int, int]]:
    """The readable address ranges of this process: a candidate pointer is read only there."""
    out = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                span, perms = line.split()[:2]
                if perms.startswith("r"):
                    lo, hi = (int(x, 16) for x in span.split("-"))
                    out.append((lo, hi))
    except OSError:  # not Linux: no way to read candidates safely
        return []
    return out


def _candidates(handle: int) -> list[int]:
    """Offsets in uc_struct of pointers to something laid out like a fresh CPUState."""
    ranges = _mapped()
    blob = ctypes.string_at(handle, _SCAN)
    found = []
    for at in range(0, _SCAN, 8):
        (p,) = struct.unpack_from("<Q", blob, at)
        if p % 8 or not any(lo <= p and p + 32 <= hi for lo, hi in ranges):
            continue
        cores, threads, _thread, _flags, cflags = struct.unpack_from("<iiQQI", ctypes.string_at(p, 28))
        if cores == 1 and threads == 1 and cflags == 0xFFFF_FFFF:
            found.append(at)
    return found


def _request(uc: Uc, offset: int) -> ctypes.c_uint32 | None:
    handle = callregs.handle(uc)
    if handle is None:
        return None
    cpu = ctypes.c_void_p.from_address(handle + offset).value
    return ctypes.c_uint32.from_address(cpu + _REQUEST_OFFSET) if cpu else None


def _probe(offset: int) -> bool:
    """In a scratch engine at EL1h, IRQs unmasked, non-secure as hcdbg's vCPUs: does the
    bit at `offset` make the next instruction the IRQ vector's (VBAR_EL1 + 0x280)?"""
    try:
        uc = new_engine()
        uc.ctl_set_cpu_model(arm64.UC_CPU_ARM64_A57)
        uc.mem_map(0x1000, 0x2000)  # the engine initialises itself on first use
        uc.mem_write(0x1000, struct.pack("<2I", _NOP, _NOP))
        uc.mem_write(0x2280, struct.pack("<2I", _NOP, _NOP))
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.SCR_EL3 + ((1 << 10) | (1 << 8) | 1,))
        uc.reg_write(arm64.UC_ARM64_REG_CP_REG, registers.HCR_EL2 + (1 << 31,))
        uc.reg_write(arm64.UC_ARM64_REG_VBAR_EL1, 0x2000)
        uc.reg_write(arm64.UC_ARM64_REG_PSTATE, 0x345)  # EL1h; D, A, F masked; I clear
        if offset not in _candidates(callregs.handle(uc) or 0):
            return False
        request = _request(uc, offset)
        if request is None:
            return False
        request.value |= CPU_INTERRUPT_HARD
        uc.emu_start(0x1000, 0, 0, 1)
        taken = uc.reg_read(arm64.UC_ARM64_REG_PC) == 0x2284
        return taken and uc.reg_read(arm64.UC_ARM64_REG_ELR_EL1) == 0x1000
    except UcError:
        return False


@cache
def offset() -> int | None:
    """Offset of `uc_struct.cpu` in this Unicorn, or None if the IRQ input is not proven."""
    try:
        uc = new_engine()
        uc.mem_map(0x1000, 0x1000)
        found = _candidates(callregs.handle(uc) or 0)
    except UcError:
        return None
    if len(found) != 1 or not _probe(found[0]):
        return None
    return found[0]


def available() -> bool:
    """Whether interrupts can be delivered to vCPUs on this Unicorn build."""
    return offset() is not None


class IrqLine:
    """One vCPU's IRQ input. `set(True)` while its CPU interface signals an IRQ; while
    `gated`, the level is kept but Unicorn does not see it (the machine stops first)."""

    def __init__(self, uc: Uc) -> None:
        off = offset()
        self._request = _request(uc, off) if off is not None else None
        self.level = False
        self.gated = False

    def set(self, level: bool) -> None:
        """Raise or drop the line; Unicorn takes the IRQ between blocks when PSTATE allows."""
        self.level = level
        self._drive()

    def gate(self, gated: bool) -> None:
        self.gated = gated
        self._drive()

    def _drive(self) -> None:
        if self._request is not None:
            if self.level and not self.gated:
                self._request.value |= CPU_INTERRUPT_HARD
            else:
                self._request.value &= ~CPU_INTERRUPT_HARD
