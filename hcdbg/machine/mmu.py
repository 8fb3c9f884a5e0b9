"""The guest's stage 1 EL1&0 translation: a virtual address to a physical one, by walking
its page tables as the MMU would (Arm ARM D8, VMSAv8-64), so the debugger can read code and
data at the addresses a kernel uses. Pure: memory comes in as a function.

Covered: 4K, 16K and 64K granules, TTBR0/TTBR1 chosen by the VA's top bits, TnSZ, table,
block and page descriptors, 48-bit output addresses. Not covered (None, as a fault): 52-bit
addresses (LPA/LPA2). A walk TCR_EL1.EPDn disables is a fault, as on hardware.
"""
from __future__ import annotations

from typing import Callable

SCTLR_M = 1 << 0  # stage 1 MMU enable (SCTLR_EL1.M)
_OA_MASK = (1 << 48) - 1
#: TCR_EL1.TG0 and TG1 encode the granule differently (Arm ARM D19 TCR_EL1).
_TG0 = {0b00: 12, 0b01: 16, 0b10: 14}
_TG1 = {0b10: 12, 0b01: 14, 0b11: 16}


def translate(va: int, tcr: int, ttbr0: int, ttbr1: int,
              read64: Callable[[int], int | None]) -> int | None:
    """The physical address of `va`, or None if the tables do not map it.

    `read64(pa)` reads a little-endian descriptor (None: not readable)."""
    va &= (1 << 64) - 1
    upper = va >> 55 & 1  # bit 55 selects TTBR1 (the top byte may be a tag)
    if upper:
        size, granule, base, disabled = 64 - (tcr >> 16 & 0x3F), _TG1.get(tcr >> 30 & 3), ttbr1, tcr >> 23 & 1
    else:
        size, granule, base, disabled = 64 - (tcr & 0x3F), _TG0.get(tcr >> 14 & 3), ttbr0, tcr >> 7 & 1
    if granule is None or disabled or not 16 <= size <= 48:
        return None
    # Every bit above the region (up to bit 55) must equal the selecting bit.
    high = va >> size & ((1 << (56 - size)) - 1)
    if high != (((1 << (56 - size)) - 1) if upper else 0):
        return None
    stride = granule - 3  # address bits resolved per level
    levels = -(-(size - granule) // stride)  # ceil
    # BADDR: the first table may be smaller than a granule (aligned to its own size); bit 0
    # is CnP, not an address bit.
    table = base & _OA_MASK & ~1
    level = 4 - levels
    while True:
        shift = granule + stride * (3 - level)
        index = va >> shift & ((1 << min(stride, size - shift)) - 1)
        desc = read64(table + 8 * index)
        if desc is None or not desc & 1:
            return None
        out = desc & _OA_MASK
        if level == 3:
            if desc & 2 == 0:  # level 3 entries must be pages
                return None
            return (out & ~((1 << granule) - 1)) | (va & ((1 << granule) - 1))
        if desc & 2 == 0:  # a block: maps 1 << shift bytes
            if level == 0 or (granule == 16 and level == 1):
                return None  # no level 0 blocks (nor level 1 with 64K) without FEAT_LPA2
            return (out & ~((1 << shift) - 1)) | (va & ((1 << shift) - 1))
        table = out & ~((1 << granule) - 1)
        level += 1
