"""Where an A64 load or store accesses memory: its lowest virtual address, from the
instruction word and the registers before it executes (Arm ARM DDI 0487, C4.1 "A64
instruction set encoding", the Loads and Stores group, and C6.2 for each instruction's
address computation). Pure: registers come in as a function.

Unicorn tells only the physical address of an access with nothing behind it; with the
guest's MMU on, FAR_EL1 must hold the virtual one (D17.2.40 FAR_EL1), which this gives.
"""
from __future__ import annotations

from typing import Callable

_MASK64 = (1 << 64) - 1
_PAGE = 0xFFF  # the smallest translation granule (4 KiB) keeps these bits (D8.2)

#: reg(n, sp): the value of register n; n = 31 is SP if `sp`, else XZR (zero).
Regs = Callable[[int, bool], int]


def _sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _extend(value: int, option: int) -> int:
    """Xm extended as the register-offset forms' `option` says (C6.2, ExtendReg)."""
    if option & 3 == 2:  # UXTW / SXTW
        value &= 0xFFFF_FFFF
        return _sext(value, 32) if option & 4 else value
    return value  # LSL (UXTX) / SXTX: all 64 bits


def access_base(insn: int, reg: Regs, pc: int) -> int | None:
    """The lowest address the load/store `insn` at `pc` accesses, or None if it is not a
    load/store this module decodes (pointer-authenticated LDRAA/LDRAB, memory tagging)."""
    if insn >> 25 & 0b0101 != 0b0100:  # op0 = x1x0: Loads and Stores
        return None
    rn = reg(insn >> 5 & 31, True)
    top, scale = insn >> 28 & 3, insn >> 30  # bits 29:28; size field (bits 31:30)
    simd, index = insn >> 26 & 1, insn >> 23 & 3  # V; bits 24:23
    if top == 0:  # exclusives, ordered, compare-and-swap; SIMD structures (all at [Xn])
        base = rn
    elif top == 1:
        if not index >> 1:  # load register (literal): PC + imm19 * 4
            base = pc + 4 * _sext(insn >> 5 & 0x7FFFF, 19)
        elif insn >> 21 & 1 or insn >> 10 & 3:  # memory tagging
            return None
        else:  # LDAPUR/STLUR: [Xn, #simm9]
            base = rn + _sext(insn >> 12 & 0x1FF, 9)
    elif top == 2:  # pairs: no-allocate, post-index, offset, pre-index; simm7 scaled
        opc = insn >> 30
        size = 2 + opc if simd else 4 if opc == 1 and not insn >> 22 & 1 else 2 + (opc >> 1)
        base = rn if index == 1 else rn + (_sext(insn >> 15 & 0x7F, 7) << size)
    elif insn >> 24 & 1:  # unsigned offset: imm12 scaled (a Q register is 16 bytes)
        size = 4 if simd and insn >> 23 & 1 else scale
        base = rn + ((insn >> 10 & 0xFFF) << size)
    elif not insn >> 21 & 1:  # unscaled, post-index, unprivileged, pre-index: simm9
        base = rn if insn >> 10 & 3 == 1 else rn + _sext(insn >> 12 & 0x1FF, 9)
    elif insn >> 10 & 3 == 2:  # register offset: Xn + extend(Xm) << (S ? size : 0)
        size = 4 if simd and insn >> 23 & 1 else scale
        offset = _extend(reg(insn >> 16 & 31, False), insn >> 13 & 7)
        base = rn + (offset << (size if insn >> 12 & 1 else 0))
    elif insn >> 10 & 3 == 0:  # atomic memory operations: [Xn]
        base = rn
    else:  # LDRAA/LDRAB
        return None
    return base & _MASK64


def virtual_address(physical: int, base: int) -> int:
    """The faulting virtual address of an access that starts at `base` and faulted at
    `physical`: translation keeps the low 12 bits, and no A64 load or store spans more
    than a page from its base (at most 64 bytes, or a DC ZVA block)."""
    return (base + ((physical - base) & _PAGE)) & _MASK64
