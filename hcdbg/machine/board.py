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
#: -bios loads into the first bank only (virt_firmware_init: pflash0).
FLASH_BANK_SIZE = 0x0400_0000
UART_BASE = 0x0900_0000
UART_SIZE = 0x1000
#: The PL011's interrupt: SPI 1, INTID 32 + 1 = 33 (hw/arm/virt.c a15irqmap VIRT_UART).
UART_SPI = 1
MAX_VCPUS = 8  # a GICv2 has 8 CPU interfaces (IHI 0048B §1.4.2); QEMU refuses more

_ALL_ONES = 0xFFFF_FFFF_FFFF_FFFF
#: Every other device region of QEMU 7.2's `virt` (hw/arm/virt.c base_memmap, and the
#: extended_memmap regions, which sit at 256 GiB for any RAM size hcdbg allows): present,
#: but no device answers. (base, size, value every read returns); writes are ignored.
#: Reads of 0 tell a driver "nothing here" (virtio-mmio MagicValue 0, PrimeCell IDs 0);
#: PCIe config space reads all-ones, the "no device in this slot" of a config read
#: (PCIe base spec: Vendor ID 0xFFFF), so Linux's ECAM host finds an empty bus. Sizes under
#: a page are rounded up to one: Unicorn maps whole pages.
DEVICE_REGIONS: tuple[tuple[int, int, int], ...] = (
    # 0x0800_0000 GIC distributor and 0x0801_0000 CPU interface: gic.py, mapped per vCPU
    (0x0802_0000, 0x00FE_0000, 0),  # GIC v2m, hyp, vcpu interfaces, ITS, redistributors
    (0x0901_0000, 0x1000, 0),  # PL031 RTC
    (0x0902_0000, 0x1000, 0),  # fw_cfg (0x18 bytes)
    (0x0903_0000, 0x1000, 0),  # PL061 GPIO
    (0x0904_0000, 0x1000, 0),  # secure UART (secure=on)
    (0x0905_0000, 0x2_0000, 0),  # SMMUv3
    (0x0907_0000, 0x1000, 0),  # memory hotplug ACPI
    (0x0908_0000, 0x1000, 0),  # ACPI GED
    (0x0909_0000, 0x1000, 0),  # NVDIMM ACPI
    (0x090A_0000, 0x1_0000, 0),  # PV time
    (0x090B_0000, 0x1000, 0),  # secure GPIO (secure=on)
    (0x0A00_0000, 0x200 * 32, 0),  # 32 virtio-mmio transports
    (0x0C00_0000, 0x0200_0000, 0),  # platform bus
    (0x0E00_0000, 0x0100_0000, 0),  # secure memory (secure=on)
    (0x1000_0000, 0x2EFF_0000, 0),  # PCIe 32-bit MMIO window
    (0x3EFF_0000, 0x1_0000, 0),  # PCIe I/O window
    (0x3F00_0000, 0x0100_0000, _ALL_ONES),  # PCIe ECAM (low)
    (0x40_0000_0000, 0x0400_0000, 0),  # second GIC redistributor region
    (0x40_1000_0000, 0x1000_0000, _ALL_ONES),  # PCIe ECAM (high: what QEMU's tree points to)
    (0x80_0000_0000, 0x80_0000_0000, 0),  # PCIe 64-bit MMIO window
)

#: Where QEMU's -kernel puts an image without an arm64 Image header (RAM + 0x80000).
DEFAULT_LOAD_OFFSET = 0x8_0000


def mpidr_of(index: int) -> int:
    """The MPIDR affinity QEMU `virt` gives CPU `index` (GICv2 clusters of 8: Aff1.Aff0)."""
    return ((index // 8) << 8) | (index % 8)
