"""hcdbg's own device tree against the one QEMU 7.2 writes for `-M virt -cpu cortex-a57`
(TCG, GICv2): the GIC, the generic timer and the PL011's interrupt, property by property."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import libfdt
import pytest

from hcdbg.machine import board, fdt, timer

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None,
                                reason="no qemu-system-aarch64 to dump its device tree")

GIC = "/intc@8000000"
UART = "/pl011@9000000"
# What must read the same in both trees, byte for byte (hw/arm/virt.c fdt_add_gic_node,
# fdt_add_timer_nodes, create_uart; the clock from create_fdt's apb-pclk).
SAME = [
    (GIC, "compatible"), (GIC, "reg"), (GIC, "#interrupt-cells"), (GIC, "interrupt-controller"),
    (GIC, "#address-cells"), (GIC, "#size-cells"), (GIC, "ranges"),
    ("/timer", "compatible"), ("/timer", "interrupts"), ("/timer", "always-on"),
    (UART, "compatible"), (UART, "reg"), (UART, "interrupts"), (UART, "clock-names"),
    ("/apb-pclk", "compatible"), ("/apb-pclk", "clock-frequency"), ("/apb-pclk", "#clock-cells"),
]


def _ours(ncpus: int) -> bytes:
    mpidrs = tuple(board.mpidr_of(i) for i in range(ncpus))
    return fdt.build_dtb(ram_size=128 << 20, mpidrs=mpidrs, conduit="hvc")


def _prop(tree: libfdt.Fdt, path: str, name: str) -> bytes:
    return bytes(tree.getprop(tree.path_offset(path), name))


def _cells(tree: libfdt.Fdt, path: str, name: str) -> list[int]:
    data = _prop(tree, path, name)
    return [int.from_bytes(data[i:i + 4], "big") for i in range(0, len(data), 4)]


def _phandle_target(tree: libfdt.Fdt, phandle: int) -> str:
    return tree.get_name(tree.node_offset_by_phandle(phandle))


@pytest.fixture(scope="module", params=[1, 4], ids=["smp1", "smp4"])
def qemu_tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, bytes]:
    """(CPU count, the tree `qemu-system-aarch64 -M virt,dumpdtb=F -cpu cortex-a57 -smp N` writes)."""
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("no qemu-system-aarch64 to dump its device tree")
    ncpus = request.param
    path = tmp_path_factory.mktemp("qemu") / f"virt-smp{ncpus}.dtb"
    subprocess.run(["qemu-system-aarch64", "-M", f"virt,dumpdtb={path}", "-cpu", "cortex-a57",
                    "-smp", str(ncpus), "-display", "none", "-nodefaults"],
                   capture_output=True, check=True, timeout=60)
    return ncpus, path.read_bytes()


@needs_qemu
@pytest.mark.parametrize("path, name", SAME, ids=[f"{p}:{n}" for p, n in SAME])
def test_a_property_reads_as_in_qemus_tree(qemu_tree: tuple[int, bytes], path: str, name: str) -> None:
    ncpus, qemu = qemu_tree
    assert _prop(libfdt.Fdt(_ours(ncpus)), path, name) == _prop(libfdt.Fdt(qemu), path, name)


@needs_qemu
def test_interrupt_parent_and_clocks_point_where_qemus_do(qemu_tree: tuple[int, bytes]) -> None:
    # Phandle values differ (QEMU numbers them in creation order); what they name must not.
    ncpus, qemu = qemu_tree
    for tree in (libfdt.Fdt(_ours(ncpus)), libfdt.Fdt(qemu)):
        assert _phandle_target(tree, _cells(tree, "/", "interrupt-parent")[0]) == "intc@8000000"
        assert {_phandle_target(tree, p) for p in _cells(tree, UART, "clocks")} == {"apb-pclk"}


# --- the values themselves, as read from QEMU 7.2's dumps (for a machine without QEMU) ------

@pytest.mark.parametrize("ncpus, flags", [(1, 0x104), (2, 0x304), (4, 0xF04), (8, 0xFF04)])
def test_timer_ppis_carry_the_cpu_mask_and_level_high(ncpus: int, flags: int) -> None:
    # `-smp 1`: <1 13 0x104 1 14 0x104 1 11 0x104 1 10 0x104>; `-smp 4`: 0xf04; `-smp 8`: 0xff04.
    tree = libfdt.Fdt(_ours(ncpus))
    assert _cells(tree, "/timer", "interrupts") == [1, 13, flags, 1, 14, flags, 1, 11, flags, 1, 10, flags]
    assert fdt.ppi_flags(ncpus) == flags


def test_more_cpus_than_a_gicv2_serves_saturate_the_mask() -> None:
    # deposit32 into the 8-bit field keeps the low 8 bits (QEMU refuses -smp 9 with a GICv2).
    assert fdt.ppi_flags(9) == 0xFF04


def test_the_gic_and_uart_interrupt_as_qemu_describes_them() -> None:
    tree = libfdt.Fdt(_ours(1))
    assert _cells(tree, GIC, "reg") == [0, 0x0800_0000, 0, 0x1_0000, 0, 0x0801_0000, 0, 0x1_0000]
    assert _prop(tree, GIC, "compatible") == b"arm,cortex-a15-gic\0"
    assert _cells(tree, GIC, "#interrupt-cells") == [3]
    assert _prop(tree, GIC, "interrupt-controller") == b""
    assert _cells(tree, UART, "interrupts") == [0, 1, 4]  # SPI 1 = INTID 33, level high
    assert _prop(tree, "/timer", "compatible") == b"arm,armv8-timer\0arm,armv7-timer\0"
    assert tree.path_offset(f"{GIC}/v2m@8020000", [libfdt.FDT_ERR_NOTFOUND]) < 0  # no MSI frame


def test_the_timer_ppis_are_the_ones_the_timer_model_raises() -> None:
    # A PPI's INTID is 16 + its number (GIC v2 spec IHI 0048B §2.2.1).
    assert (16 + fdt.TIMER_PPIS[1], 16 + fdt.TIMER_PPIS[2]) == (timer.PPI_PHYS, timer.PPI_VIRT)


def test_our_tree_passes_our_own_check(tmp_path: Path) -> None:
    fdt.check_dtb(_ours(4), tmp_path / "ours.dtb")


# --- a user's --dtb: QEMU's own tree still goes through check and fixup ----------------------

@needs_qemu
def test_qemus_tree_as_dtb_is_checked_and_fixed_up_keeping_its_interrupts(qemu_tree: tuple[int, bytes],
                                                                          tmp_path: Path) -> None:
    _, qemu = qemu_tree
    fdt.check_dtb(qemu, tmp_path / "virt.dtb")
    fixed = libfdt.Fdt(fdt.fixup_dtb(qemu, ram_size=256 << 20, bootargs="console=ttyAMA0"))
    before = libfdt.Fdt(qemu)
    for path, name in SAME + [("/", "interrupt-parent"), (GIC, "phandle")]:
        assert _prop(fixed, path, name) == _prop(before, path, name), (path, name)
    assert _cells(fixed, "/memory@40000000", "reg") == [0, 0x4000_0000, 0, 256 << 20]
    assert _prop(fixed, "/chosen", "bootargs") == b"console=ttyAMA0\0"


# --- --idle-states: a CPU idle state Linux's cpuidle-psci driver enters through CPU_SUSPEND ---

def test_idle_states_name_a_psci_power_down_state_every_cpu_points_at() -> None:
    mpidrs = tuple(board.mpidr_of(i) for i in range(4))
    tree = libfdt.Fdt(fdt.build_dtb(ram_size=128 << 20, mpidrs=mpidrs, conduit="hvc", idle_states=True))
    # Linux Documentation/devicetree/bindings/cpu/idle-states.yaml: /cpus/idle-states with
    # entry-method "psci"; each state compatible "arm,idle-state", with its latencies.
    assert _prop(tree, "/cpus/idle-states", "entry-method") == b"psci\0"
    state = "/cpus/idle-states/cpu-sleep"
    assert _prop(tree, state, "compatible") == b"arm,idle-state\0"
    for name in ("entry-latency-us", "exit-latency-us", "min-residency-us"):
        assert len(_cells(tree, state, name)) == 1
    # bindings/arm/psci.yaml: arm,psci-suspend-param is CPU_SUSPEND's power_state. In the
    # original format (DEN0022D.b §5.4.2.1, Table 5-5) bit 16 StateType 1 = power-down, the
    # state cpuidle-psci treats as losing context (psci_power_state_loses_context).
    (param,) = _cells(tree, state, "arm,psci-suspend-param")
    assert param == 1 << 16
    # No local-timer-stop: the generic timer keeps counting (no broadcast timer is needed).
    assert tree.getprop(tree.path_offset(state), "local-timer-stop", [libfdt.FDT_ERR_NOTFOUND]) \
        == -libfdt.FDT_ERR_NOTFOUND
    phandle = tree.get_phandle(tree.path_offset(state))
    for mpidr in mpidrs:
        assert _cells(tree, f"/cpus/cpu@{mpidr:x}", "cpu-idle-states") == [phandle]


def test_without_the_option_the_tree_has_no_idle_states_as_qemus_has_none() -> None:
    tree = libfdt.Fdt(_ours(4))
    assert tree.path_offset("/cpus/idle-states", [libfdt.FDT_ERR_NOTFOUND]) == -libfdt.FDT_ERR_NOTFOUND
