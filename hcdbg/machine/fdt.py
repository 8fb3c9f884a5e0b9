"""The flattened device tree hcdbg hands the guest: built like QEMU `virt`'s, or the user's own
with QEMU's boot-time fixups."""
from __future__ import annotations

import struct
from pathlib import Path

import libfdt

from hcdbg.errors import LoadError
from hcdbg.machine.board import RAM_BASE, UART_BASE, UART_SIZE, UART_SPI
from hcdbg.machine.gic import CPU_BASE, CPU_SIZE, DIST_BASE, DIST_SIZE

_PHANDLE_CLK = 0x8000
# QEMU numbers its phandles by creation order, so its GIC's moves with the CPU count (0x8002
# for one CPU); any unique value serves. 0x8001 is what the root's interrupt-parent already
# said before the tree had a GIC node for it to name.
_PHANDLE_GIC = 0x8001
_PHANDLE_IDLE = 0x8100
#: `--idle-states`: one CPU idle state, entered by PSCI CPU_SUSPEND (Linux Documentation/
#: devicetree/bindings/cpu/idle-states.yaml; arm,psci-suspend-param per psci.yaml). The
#: parameter is a power_state in PSCI's original format (DEN0022D.b §5.4.2.1, the format
#: hcdbg's PSCI_FEATURES(CPU_SUSPEND) = 0 announces): StateType bit 16 = power-down, StateID
#: and PowerLevel 0, a core power-down. The latencies (µs) are of the order of real cores'
#: core-level states, so Linux's menu governor picks it for long idle periods, not short ones.
#: No `local-timer-stop`: hcdbg's generic timer keeps running in any state, so Linux needs
#: no broadcast timer to wake the CPU.
IDLE_STATE_PARAM = 0x0001_0000
IDLE_STATE_LATENCIES = (("entry-latency-us", 100), ("exit-latency-us", 250), ("min-residency-us", 2000))
# The GIC binding's three interrupt cells (Linux Documentation/devicetree/bindings/
# interrupt-controller/arm,gic.yaml): type (0 SPI, 1 PPI), number within the type, flags.
_SPI, _PPI = 0, 1
_LEVEL_HIGH = 4
# The generic timer's four PPIs in the order the "arm,armv8-timer" binding lists them, as QEMU
# 7.2 numbers them (include/hw/arm/virt.h ARCH_TIMER_*_IRQ): secure EL1 physical 13 (INTID
# 29), non-secure EL1 physical 14 (30), virtual 11 (27), non-secure EL2 physical 10 (26).
TIMER_PPIS = (13, 14, 11, 10)
_FDT_MAGIC = 0xD00DFEED
# QEMU 7.2 writes these as one 32-bit cell each (hw/arm/boot.c load_dtb: qemu_fdt_setprop_cell;
# seen in a `-M virt,dumpdtb=F -initrd F` dump); Linux reads either width.
_INITRD_PROPS = ("linux,initrd-start", "linux,initrd-end")
# libfdt's bound on #address-cells and #size-cells (libfdt.h FDT_MAX_NCELLS; fdt_address_cells
# refuses more): a reg entry of more cells than this describes no address a CPU has.
_MAX_NCELLS = 4


def _cells(*values: int) -> bytes:
    return b"".join(struct.pack(">I", v & 0xFFFF_FFFF) for v in values)


def _reg(base: int, size: int) -> bytes:
    """A `reg` entry with #address-cells = #size-cells = 2."""
    return _cells(base >> 32, base, size >> 32, size)


def _strings(*values: str) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def ppi_flags(ncpus: int) -> int:
    """The flags cell of a GICv2 PPI: level-high, and in bits [15:8] the CPUs the PPI is wired
    to. QEMU 7.2 hw/arm/virt.c fdt_add_timer_nodes deposits (1 << ncpus) - 1 into that 8-bit
    field (GIC_FDT_IRQ_PPI_CPU_START 8, _WIDTH 8), so more than 8 CPUs would give 0xff."""
    return _LEVEL_HIGH | ((((1 << ncpus) - 1) & 0xFF) << 8)


def build_dtb(*, ram_size: int, mpidrs: tuple[int, ...], conduit: str,
              bootargs: str = "", initrd: tuple[int, int] | None = None,
              idle_states: bool = False) -> bytes:
    """A DTB describing memory, the CPUs (reg = MPIDR), /psci, the GICv2, the generic timer,
    the PL011 with its interrupt and /chosen; with `idle_states`, also /cpus/idle-states and
    each CPU's cpu-idle-states (QEMU's tree has none), so Linux's cpuidle-psci driver idles
    CPUs through CPU_SUSPEND.

    Node names and properties follow what `qemu-system-aarch64 -M virt,dumpdtb=F -cpu
    cortex-a57` (QEMU 7.2, TCG, GICv2) writes for these devices (reference:
    unicorn-aarch64.md; hw/arm/virt.c fdt_add_gic_node, fdt_add_timer_nodes, create_uart),
    so guests that parse QEMU's tree parse ours. Left out, as hcdbg has no such device: the
    GIC's v2m MSI frame child (it serves PCIe MSIs, and there is no PCIe node here), the PMU
    and QEMU's other peripherals."""
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property_u32("#address-cells", 2)
        sw.property_u32("#size-cells", 2)
        sw.property_u32("interrupt-parent", _PHANDLE_GIC)
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
        with sw.add_node(f"intc@{DIST_BASE:x}"):
            sw.property_u32("phandle", _PHANDLE_GIC)
            # "cortex-a15-gic" is the binding's name for a GICv2: distributor, then CPU interface.
            sw.property("reg", _reg(DIST_BASE, DIST_SIZE) + _reg(CPU_BASE, CPU_SIZE))
            sw.property("compatible", _strings("arm,cortex-a15-gic"))
            # Cells and an empty `ranges` for a child (QEMU's v2m frame); harmless without one.
            sw.property("ranges", b"")
            sw.property_u32("#size-cells", 2)
            sw.property_u32("#address-cells", 2)
            sw.property("interrupt-controller", b"")
            sw.property_u32("#interrupt-cells", 3)
        with sw.add_node("cpus"):
            sw.property_u32("#address-cells", 1)
            sw.property_u32("#size-cells", 0)
            if idle_states:
                with sw.add_node("idle-states"):
                    sw.property_string("entry-method", "psci")
                    with sw.add_node("cpu-sleep"):
                        sw.property_u32("phandle", _PHANDLE_IDLE)
                        sw.property("compatible", _strings("arm,idle-state"))
                        sw.property_u32("arm,psci-suspend-param", IDLE_STATE_PARAM)
                        for name, value in IDLE_STATE_LATENCIES:
                            sw.property_u32(name, value)
            for mpidr in mpidrs:
                with sw.add_node(f"cpu@{mpidr:x}"):
                    sw.property_string("device_type", "cpu")
                    sw.property("compatible", _strings("arm,cortex-a57"))
                    sw.property_u32("reg", mpidr)
                    if len(mpidrs) > 1:
                        sw.property_string("enable-method", "psci")
                    if idle_states:
                        sw.property_u32("cpu-idle-states", _PHANDLE_IDLE)
        with sw.add_node("timer"):
            flags = ppi_flags(len(mpidrs))
            sw.property("interrupts", _cells(*(c for ppi in TIMER_PPIS for c in (_PPI, ppi, flags))))
            sw.property("always-on", b"")
            sw.property("compatible", _strings("arm,armv8-timer", "arm,armv7-timer"))
        with sw.add_node("apb-pclk"):
            sw.property_u32("phandle", _PHANDLE_CLK)
            sw.property_string("clock-output-names", "clk24mhz")
            sw.property_u32("clock-frequency", 24_000_000)
            sw.property_u32("#clock-cells", 0)
            sw.property("compatible", _strings("fixed-clock"))
        with sw.add_node(f"pl011@{UART_BASE:x}"):
            sw.property("clock-names", _strings("uartclk", "apb_pclk"))
            sw.property("clocks", _cells(_PHANDLE_CLK, _PHANDLE_CLK))
            sw.property("interrupts", _cells(_SPI, UART_SPI, _LEVEL_HIGH))
            sw.property("reg", _reg(UART_BASE, UART_SIZE))
            sw.property("compatible", _strings("arm,pl011", "arm,primecell"))
        with sw.add_node("chosen"):
            sw.property_string("stdout-path", f"/pl011@{UART_BASE:x}")
            if bootargs:
                sw.property("bootargs", bootargs_bytes(bootargs))
            if initrd is not None:
                for name, value in zip(_INITRD_PROPS, initrd):
                    sw.property_u32(name, value)
    fdt = sw.as_fdt()
    fdt.pack()
    return bytes(fdt.as_bytearray())


def check_dtb(data: bytes, path: Path) -> None:
    """Raise LoadError unless `data` is a flattened device tree a guest can use: a tree
    libfdt's own full check (fdt_check_full: header, every tag, node and property name within
    its blocks) accepts, run before anything walks it; a root with #address-cells and
    #size-cells of 1 to 4 cells (QEMU refuses a tree without them: "dtb file invalid"); and
    a /psci method, if any, that is one string."""
    what = f"--dtb {path}"
    if len(data) < 40 or struct.unpack_from(">I", data)[0] != _FDT_MAGIC:
        raise LoadError(f"{what}: not a flattened device tree (no d00dfeed magic; "
                        "a .dtb from dtc or qemu-system-aarch64 -M virt,dumpdtb=FILE is)")
    total = struct.unpack_from(">I", data, 4)[0]
    if total > len(data):
        raise LoadError(f"{what}: truncated device tree ({len(data)} of {total} bytes)")
    err = libfdt.fdt_check_full(bytearray(data), len(data))
    if err:
        raise LoadError(f"{what}: damaged device tree ({libfdt.fdt_strerror(err)})")
    fdt = libfdt.Fdt(data)
    for name in ("#address-cells", "#size-cells"):
        cells = fdt.getprop(0, name, [libfdt.FDT_ERR_NOTFOUND])
        if cells == -libfdt.FDT_ERR_NOTFOUND or len(cells) != 4 or not 1 <= cells.as_uint32() <= _MAX_NCELLS:
            raise LoadError(f"{what}: the root node needs {name} of 1 to {_MAX_NCELLS} (one cell)")
    psci_method(data, path)


def psci_method(data: bytes, path: Path) -> str | None:
    """The /psci node's `method` of a checked tree, or None if it has none. LoadError if the
    method is not one NUL-terminated string of printable ASCII."""
    fdt = libfdt.Fdt(data)
    node = fdt.path_offset("/psci", [libfdt.FDT_ERR_NOTFOUND])
    if node < 0:
        return None
    method = fdt.getprop(node, "method", [libfdt.FDT_ERR_NOTFOUND])
    if method == -libfdt.FDT_ERR_NOTFOUND:
        return None
    raw = bytes(method)
    text = raw[:-1]
    if not raw.endswith(b"\0") or not text or not all(0x20 <= b < 0x7F for b in text):
        raise LoadError(f"--dtb {path}: /psci method is not one string like \"hvc\" or \"smc\" "
                        f"({raw[:40]!r})")
    return text.decode("ascii")


def bootargs_bytes(bootargs: str) -> bytes:
    """/chosen/bootargs: the command line's bytes (what the shell gave, UTF-8 or not, as
    Python keeps undecodable argv bytes as surrogate escapes), NUL-terminated. LoadError for
    text no command line can hold (a lone surrogate from elsewhere, such as a call script)."""
    try:
        return bootargs.encode("utf-8", "surrogateescape") + b"\0"
    except UnicodeEncodeError:
        raise LoadError(f"--append: {bootargs[:40]!r} is not text a command line can hold") from None


def fixup_dtb(data: bytes, *, ram_size: int, bootargs: str = "",
              initrd: tuple[int, int] | None = None) -> bytes:
    """A user's tree with the fixups QEMU's arm_load_dtb makes (hw/arm/boot.c): one /memory
    node for the board's RAM in place of every /memory and /memory@..., /chosen created if
    missing, /chosen/bootargs and the initrd range set. Unlike QEMU, /psci is left as the
    user wrote it: hcdbg answers on both conduits, and the tree says which the guest uses."""
    args = bootargs_bytes(bootargs)
    fdt = libfdt.Fdt(data)
    fdt.resize(fdt.totalsize() + 1024 + len(args))
    acells = fdt.getprop(0, "#address-cells").as_uint32()
    scells = fdt.getprop(0, "#size-cells").as_uint32()
    if scells < 2 and ram_size >= 1 << 32:
        raise LoadError("--dtb: its #size-cells = 1 cannot describe 4 GiB or more of RAM (give less --mem)")
    memories = []
    node = fdt.first_subnode(0, [libfdt.FDT_ERR_NOTFOUND])
    while node >= 0:
        name = fdt.get_name(node)  # undecodable bytes come as surrogate escapes
        if name == "memory" or name.startswith("memory@"):
            memories.append(node)
        node = fdt.next_subnode(node, [libfdt.FDT_ERR_NOTFOUND])
    for node in reversed(memories):  # by offset, the last first: deleting it moves no earlier node
        fdt.del_node(node)
    memory = fdt.add_subnode(0, f"memory@{RAM_BASE:x}")
    fdt.setprop_str(memory, "device_type", "memory")
    fdt.setprop(memory, "reg", _sized(acells, RAM_BASE) + _sized(scells, ram_size))
    if fdt.path_offset("/chosen", [libfdt.FDT_ERR_NOTFOUND]) < 0:
        fdt.add_subnode(0, "chosen")
    if bootargs:  # node offsets move as the tree grows: look /chosen up each time
        fdt.setprop(fdt.path_offset("/chosen"), "bootargs", args)
    if initrd is not None:
        for name, value in zip(_INITRD_PROPS, initrd):
            fdt.setprop_u32(fdt.path_offset("/chosen"), name, value)
    fdt.pack()
    return bytes(fdt.as_bytearray())


def _sized(cells: int, value: int) -> bytes:
    """`value` in `cells` big-endian 32-bit cells (the high ones first)."""
    return b"".join(struct.pack(">I", (value >> (32 * i)) & 0xFFFF_FFFF) for i in reversed(range(cells)))
