"""The stage 1 table walk (hcdbg/machine/mmu.py) on hand-built tables: the layouts of the
Arm ARM's VMSAv8-64 chapter (D8) for 4K and 64K granules, TTBR0/TTBR1 selection, blocks,
and the ways a walk faults."""
from __future__ import annotations

from hcdbg.machine.mmu import translate

# TCR_EL1 fields (Arm ARM D19): T0SZ[5:0], EPD0[7], TG0[15:14], T1SZ[21:16], EPD1[23], TG1[31:30]
TCR_4K_48 = 16 | 16 << 16 | 0b00 << 14 | 0b10 << 30  # 48-bit VAs both halves, 4K granules
TCR_64K_42 = 22 | 22 << 16 | 0b01 << 14 | 0b11 << 30  # 42-bit VAs, 64K granules
TABLE, PAGE, BLOCK = 0b11, 0b11, 0b01


class Memory:
    """Physical memory holding descriptors: address -> 64-bit value."""

    def __init__(self) -> None:
        self.words: dict[int, int] = {}

    def put(self, table: int, index: int, value: int) -> None:
        self.words[table + 8 * index] = value

    def read64(self, pa: int) -> int | None:
        return self.words.get(pa, 0)


def idx(va: int, level: int, granule: int = 12) -> int:
    """The table index a VA takes at `level` (9 bits per level with 4K, 13 with 64K)."""
    stride = granule - 3
    return va >> (granule + stride * (3 - level)) & ((1 << stride) - 1)


def test_kernel_address_through_ttbr1_four_levels_of_4k_pages() -> None:
    mem = Memory()
    va = 0xFFFF_8000_0802_8644  # where Debian's Linux 6.1 makes its PSCI calls
    l0, l1, l2, l3 = 0x4100_0000, 0x4100_1000, 0x4100_2000, 0x4100_3000
    mem.put(l0, idx(va, 0), l1 | TABLE)
    mem.put(l1, idx(va, 1), l2 | TABLE)
    mem.put(l2, idx(va, 2), l3 | TABLE)
    mem.put(l3, idx(va, 3), 0x4022_8000 | 0x400 | PAGE)  # AF set, attributes do not matter
    assert translate(va, TCR_4K_48, 0, l0, mem.read64) == 0x4022_8644
    # the same low 48 bits with bit 55 clear walk TTBR0's tables instead (empty here)
    assert translate(va & ((1 << 48) - 1), TCR_4K_48, 0x4200_0000, l0, mem.read64) is None


def test_a_2mib_block_at_level_2_and_an_identity_map_through_ttbr0() -> None:
    mem = Memory()
    l0, l1, l2 = 0x4000_0000, 0x4000_1000, 0x4000_2000
    va = 0x4020_1234
    mem.put(l0, idx(va, 0), l1 | TABLE)
    mem.put(l1, idx(va, 1), l2 | TABLE)
    mem.put(l2, idx(va, 2), 0x4020_0000 | BLOCK)
    assert translate(va, TCR_4K_48, l0, 0, mem.read64) == va
    assert translate(va + 0x20_0000, TCR_4K_48, l0, 0, mem.read64) is None  # next block unmapped


def test_64k_granule_three_levels() -> None:
    mem = Memory()
    # 42-bit VAs with 64K pages: 42 - 16 = 26 bits to resolve, 13 per level, so the walk
    # starts at level 2.
    l2, l3 = 0x4800_0000, 0x4801_0000
    va = 0x0000_0123_4567_89AB & ((1 << 42) - 1)
    mem.put(l2, idx(va, 2, 16), l3 | TABLE)
    mem.put(l3, idx(va, 3, 16), 0x5000_0000 | PAGE)
    assert translate(va, TCR_64K_42, l2, 0, mem.read64) == 0x5000_0000 | (va & 0xFFFF)


def test_faults() -> None:
    mem = Memory()
    l0 = 0x4000_0000
    assert translate(0x1000, TCR_4K_48, l0, 0, mem.read64) is None  # invalid descriptor (0)
    mem.put(l0, 0, 0x4000_0000 | BLOCK)  # a block at level 0 does not exist with 4K
    assert translate(0x1000, TCR_4K_48, l0, 0, mem.read64) is None
    # bits above the 48-bit region must all equal bit 55
    assert translate(0x0001_0000_0000_1000, TCR_4K_48, l0, 0, mem.read64) is None
    # EPD1 disables walks through TTBR1
    assert translate(0xFFFF_0000_0000_0000, TCR_4K_48 | 1 << 23, 0, l0, mem.read64) is None
    # a reserved granule encoding
    assert translate(0x1000, (TCR_4K_48 & ~(3 << 14)) | 0b11 << 14, l0, 0, mem.read64) is None
