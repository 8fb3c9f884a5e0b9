"""The fixed facts of the board: QEMU `virt`'s memory map and CPU numbering."""
from __future__ import annotations

# QEMU hw/arm/virt.c base_memmap (reference: unicorn-aarch64.md "How QEMU's -kernel boot lays out memory")
RAM_BASE = 0x4000_0000
DEFAULT_RAM_SIZE = 128 << 20
MIN_RAM_SIZE = 16 << 20
MAX_RAM_SIZE = 8 << 30
#: The two 64 MiB flash banks at 0 where QEMU's -bios puts firmware (mapped as memory).
FLASH_BASE = 0x0
FLASH_SIZE = 0x0800_0000
UART_BASE = 0x0900_0000
UART_SIZE = 0x1000
GIC_DIST_BASE = 0x0800_0000
GIC_SIZE = 0x2_0000
VIRTIO_BASE = 0x0A00_0000
VIRTIO_SIZE = 0x200 * 32
MAX_VCPUS = 64

#: Where QEMU's -kernel puts an image without an arm64 Image header (RAM + 0x80000).
DEFAULT_LOAD_OFFSET = 0x8_0000


def mpidr_of(index: int) -> int:
    """The MPIDR affinity QEMU `virt` gives CPU `index` (GICv2 clusters of 8: Aff1.Aff0)."""
    return ((index // 8) << 8) | (index % 8)
