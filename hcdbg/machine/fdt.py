"""The flattened device tree hcdbg hands the guest, shaped like QEMU `virt`'s."""
from __future__ import annotations

import struct

import libfdt

from hcdbg.machine.board import RAM_BASE, UART_BASE, UART_SIZE

_PHANDLE_CLK = 0x8000


def _cells(*values: int) -> bytes:
    return b"".join(struct.pack(">I", v & 0xFFFF_FFFF) for v in values)


def _reg(base: int, size: int) -> bytes:
    """A `reg` entry with #address-cells = #size-cells = 2."""
    return _cells(base >> 32, base, size >> 32, size)


def _strings(*values: str) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def build_dtb(*, ram_size: int, mpidrs: tuple[int, ...], conduit: str,
              bootargs: str = "") -> bytes:
    """A DTB describing memory, the CPUs (reg = MPIDR), /psci, the PL011 and /chosen.

    Node names and properties follow what `qemu-system-aarch64 -M virt,dumpdtb=F` writes
    for these devices (reference: unicorn-aarch64.md), so guests that parse QEMU's tree
    parse ours."""
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property_u32("#address-cells", 2)
        sw.property_u32("#size-cells", 2)
        sw.property_u32("interrupt-parent", 0x8001)
        sw.property("compatible", _strings("linux,dummy-virt"))
        sw.property_string("model", "hcdbg virt")
        with sw.add_node("psci"):
            sw.property("compatible", _strings("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))
            sw.property_string("method", conduit)
            # PSCI 0.1 IDs as QEMU lists them (reference §2.1: 0x95C1BA5E + n).
            sw.property_u32("cpu_suspend", 0xC400_0001)
            sw.property_u32("cpu_off", 0x8400_0002)
            sw.property_u32("cpu_on", 0xC400_0003)
            sw.property_u32("migrate", 0xC400_0005)
        with sw.add_node(f"memory@{RAM_BASE:x}"):
            sw.property_string("device_type", "memory")
            sw.property("reg", _reg(RAM_BASE, ram_size))
        with sw.add_node("cpus"):
            sw.property_u32("#address-cells", 1)
            sw.property_u32("#size-cells", 0)
            for mpidr in mpidrs:
                with sw.add_node(f"cpu@{mpidr:x}"):
                    sw.property_string("device_type", "cpu")
                    sw.property("compatible", _strings("arm,cortex-a57"))
                    sw.property_u32("reg", mpidr)
                    if len(mpidrs) > 1:
                        sw.property_string("enable-method", "psci")
        with sw.add_node("apb-pclk"):
            sw.property_u32("phandle", _PHANDLE_CLK)
            sw.property_string("clock-output-names", "clk24mhz")
            sw.property_u32("clock-frequency", 24_000_000)
            sw.property_u32("#clock-cells", 0)
            sw.property("compatible", _strings("fixed-clock"))
        with sw.add_node(f"pl011@{UART_BASE:x}"):
            sw.property("clock-names", _strings("uartclk", "apb_pclk"))
            sw.property("clocks", _cells(_PHANDLE_CLK, _PHANDLE_CLK))
            sw.property("interrupts", _cells(0, 1, 4))
            sw.property("reg", _reg(UART_BASE, UART_SIZE))
            sw.property("compatible", _strings("arm,pl011", "arm,primecell"))
        with sw.add_node("chosen"):
            sw.property_string("stdout-path", f"/pl011@{UART_BASE:x}")
            if bootargs:
                sw.property_string("bootargs", bootargs)
    fdt = sw.as_fdt()
    fdt.pack()
    return bytes(fdt.as_bytearray())
