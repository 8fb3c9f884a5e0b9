"""The GICv2 model against IHI 0048B.b (section numbers in each test)."""
from __future__ import annotations

import pytest

from hcdbg.machine import gic as G
from hcdbg.machine.gic import Gic


def linux_init(g: Gic, pmr: int = 0xF0) -> None:
    """What Linux's irq-gic.c does: distributor on, default priority 0xA0, CPU interfaces on."""
    g.dist_write(0, G.GICD_CTLR, 4, 1)
    for cpu in range(g.ncpus):
        for irq in range(0, 32, 4):
            g.dist_write(cpu, G.GICD_IPRIORITYR + irq, 4, 0xA0A0A0A0)
        g.dist_write(cpu, G.GICD_ISENABLER, 4, 0x0000FFFF)
        g.cpu_write(cpu, G.GICC_PMR, 4, pmr)
        g.cpu_write(cpu, G.GICC_CTLR, 4, 1)


def sgir(filt: int, targets: int, sgi: int) -> int:
    return filt << 24 | targets << 16 | sgi


def test_typer_and_ids_as_qemu_virt() -> None:
    """§4.3.2 GICD_TYPER: ITLinesNumber 8 for 288 IDs, CPUNumber N-1; §4.4.14 GICC_IIDR."""
    for n in (1, 4, 8):
        assert Gic(n).dist_read(0, G.GICD_TYPER, 4) == 8 | (n - 1) << 5
    g = Gic(2)
    assert g.cpu_read(1, G.GICC_IIDR) == 0x0002043B
    assert g.dist_read(0, 0xFE8, 4) == 0x2B  # ICPIDR2 ArchRev 2 (§4.3.18)


def test_sgi_target_list_filters() -> None:
    """§4.3.15 GICD_SGIR: TargetListFilter 0 = list, 1 = all but self, 2 = self only;
    §4.4.4: the acknowledged ID carries the source CPU in bits [12:10]."""
    g = Gic(4)
    linux_init(g)
    g.dist_write(1, G.GICD_SGIR, 4, sgir(0, 0b1100, 3))
    assert g.lines == (False, False, True, True)
    assert g.cpu_read(2, G.GICC_IAR) == 3 | 1 << 10
    assert g.cpu_read(3, G.GICC_IAR) == 3 | 1 << 10
    g = Gic(4)
    linux_init(g)
    g.dist_write(2, G.GICD_SGIR, 4, sgir(1, 0, 5))
    assert g.lines == (True, True, False, True)
    g = Gic(4)
    linux_init(g)
    g.dist_write(2, G.GICD_SGIR, 4, sgir(2, 0b0001, 6))
    assert g.lines == (False, False, True, False)
    assert g.cpu_read(2, G.GICC_IAR) == 6 | 2 << 10
    g.dist_write(2, G.GICD_SGIR, 4, sgir(3, 0xF, 6))  # reserved filter: nothing
    g.cpu_write(2, G.GICC_EOIR, 4, 6 | 2 << 10)
    assert g.lines == (False,) * 4


def test_sgi_from_two_sources_is_taken_twice() -> None:
    """§4.3.16/17, §3.2.4: SGI pending state is kept per source; acknowledging one source
    leaves the other pending (active and pending), taken after EOI."""
    g = Gic(4)
    linux_init(g)
    g.send_sgi(1, 2, 0b1)
    g.send_sgi(3, 2, 0b1)
    assert g.dist_read(0, G.GICD_SPENDSGIR, 4) == (0b1010 << 16)
    assert g.cpu_read(0, G.GICC_IAR) == 2 | 1 << 10
    assert not g.pending_irq(0)  # active: not forwarded again until deactivated
    assert g.cpu_read(0, G.GICC_IAR) == G.SPURIOUS
    g.cpu_write(0, G.GICC_EOIR, 4, 2 | 1 << 10)
    assert g.pending_irq(0)
    assert g.cpu_read(0, G.GICC_IAR) == 2 | 3 << 10
    g.cpu_write(0, G.GICC_EOIR, 4, 2 | 3 << 10)
    assert not g.pending_irq(0)
    g.dist_write(0, G.GICD_SPENDSGIR + 4, 1, 0b100)  # SGI 4 from CPU 2 by software
    assert g.cpu_read(0, G.GICC_HPPIR) == 4 | 2 << 10
    g.dist_write(0, G.GICD_CPENDSGIR + 4, 1, 0b100)
    assert g.cpu_read(0, G.GICC_HPPIR) == G.SPURIOUS


def test_banked_private_registers() -> None:
    """§4.3.5/11/12: SGI/PPI enables and priorities are banked per CPU; GICD_ITARGETSR0-7
    read the reading CPU's own bit and ignore writes; SGIs are always enabled (§4.3.6)."""
    g = Gic(4)
    g.dist_write(1, G.GICD_ISENABLER, 4, 1 << 27)
    g.dist_write(1, G.GICD_IPRIORITYR + 27, 1, 0x40)
    assert g.dist_read(1, G.GICD_ISENABLER, 4) == 0xFFFF | 1 << 27
    assert g.dist_read(0, G.GICD_ISENABLER, 4) == 0xFFFF
    assert g.dist_read(1, G.GICD_IPRIORITYR + 24, 4) == 0x40 << 24
    assert g.dist_read(2, G.GICD_IPRIORITYR + 24, 4) == 0
    g.dist_write(1, G.GICD_ICENABLER, 4, 0xFFFFFFFF)
    assert g.dist_read(1, G.GICD_ICENABLER, 4) == 0xFFFF
    for cpu in range(4):
        assert g.dist_read(cpu, G.GICD_ITARGETSR, 4) == (1 << cpu) * 0x01010101
    g.dist_write(2, G.GICD_ITARGETSR + 28, 4, 0x0F0F0F0F)
    assert g.dist_read(2, G.GICD_ITARGETSR + 28, 4) == 0x04040404
    assert Gic(1).dist_read(0, G.GICD_ITARGETSR, 4) == 0  # uniprocessor: RAZ/WI


def test_spi_targets_priority_and_byte_access() -> None:
    """§4.3.11/12: IPRIORITYR and ITARGETSR are byte-accessible; an SPI goes to the CPUs in
    its target list only."""
    g = Gic(4)
    linux_init(g)
    spi = 33
    g.dist_write(0, G.GICD_IPRIORITYR + spi, 1, 0x80)
    g.dist_write(0, G.GICD_ITARGETSR + spi, 1, 0b0100)
    assert g.dist_read(0, G.GICD_ITARGETSR + 32, 4) == 0b0100 << 8
    g.dist_write(0, G.GICD_ISENABLER + 4, 4, 1 << 1)
    g.set_irq(spi, True)
    assert g.lines == (False, False, True, False)
    assert g.dist_read(3, G.GICD_ISPENDR + 4, 4) == 2  # SPI pending state is not banked
    assert g.cpu_read(2, G.GICC_IAR) == spi
    g.set_irq(spi, False)
    g.cpu_write(2, G.GICC_EOIR, 4, spi)
    assert g.lines == (False,) * 4


def test_priority_mask_and_preemption() -> None:
    """§3.3.2: only priorities strictly higher (numerically lower) than GICC_PMR are
    signalled; §3.3.3: an interrupt preempts only with a higher group priority than the
    running priority; GICC_RPR follows acknowledge and EOI (§4.4.6), 0xFF when idle."""
    g = Gic(1)
    linux_init(g, pmr=0xA0)
    g.dist_write(0, G.GICD_IPRIORITYR + 1, 1, 0xA0)
    g.send_sgi(0, 1, 1)
    assert not g.pending_irq(0)  # 0xA0 is not above the mask 0xA0
    assert g.cpu_read(0, G.GICC_IAR) == G.SPURIOUS
    g.cpu_write(0, G.GICC_PMR, 4, 0xF0)
    assert g.pending_irq(0)
    g.dist_write(0, G.GICD_IPRIORITYR + 2, 1, 0x40)
    g.dist_write(0, G.GICD_IPRIORITYR + 3, 1, 0xA1)
    assert g.cpu_read(0, G.GICC_RPR) == 0xFF
    assert g.cpu_read(0, G.GICC_IAR) == 1
    assert g.cpu_read(0, G.GICC_RPR) == 0xA0
    g.send_sgi(0, 3, 1)  # 0xA1: group priority 0xA0 with BPR 0: does not preempt
    assert not g.pending_irq(0)
    g.send_sgi(0, 2, 1)  # 0x40 preempts
    assert g.pending_irq(0)
    assert g.cpu_read(0, G.GICC_IAR) == 2
    assert g.cpu_read(0, G.GICC_RPR) == 0x40
    # §4.4.12: one bit per preemption level (priority >> 1), 32 a register
    assert [g.cpu_read(0, G.GICC_APR0 + 4 * n) for n in range(4)] == [0, 1, 1 << 16, 0]
    g.cpu_write(0, G.GICC_EOIR, 4, 2)
    assert g.cpu_read(0, G.GICC_RPR) == 0xA0
    g.cpu_write(0, G.GICC_EOIR, 4, 1)
    assert g.cpu_read(0, G.GICC_RPR) == 0xFF
    assert g.cpu_read(0, G.GICC_IAR) == 3


def test_binary_point_groups_priorities() -> None:
    """§3.3.3 Table 3-6: with GICC_BPR = 4 the group priority is bits [7:5], so 0x40 does
    not preempt a running 0x50 (both 0x40)."""
    g = Gic(1)
    linux_init(g)
    g.cpu_write(0, G.GICC_BPR, 4, 4)
    g.dist_write(0, G.GICD_IPRIORITYR, 2, 0x4050)
    g.send_sgi(0, 0, 1)
    assert g.cpu_read(0, G.GICC_IAR) == 0
    assert g.cpu_read(0, G.GICC_RPR) == 0x40
    g.send_sgi(0, 1, 1)
    assert not g.pending_irq(0)
    g.cpu_write(0, G.GICC_BPR, 4, 0)


def test_spurious_and_enables() -> None:
    """§3.2.5: GICC_IAR reads 1023 with nothing pending, with the distributor or the CPU
    interface disabled (§4.3.1, §4.4.1); an EOI of 1023 is ignored."""
    g = Gic(2)
    assert g.cpu_read(0, G.GICC_IAR) == 1023
    g.send_sgi(0, 0, 0b11)
    assert g.cpu_read(0, G.GICC_IAR) == 1023  # all disabled at reset
    g.dist_write(0, G.GICD_CTLR, 4, 1)
    assert g.cpu_read(0, G.GICC_IAR) == 1023  # CPU interface still off
    g.cpu_write(0, G.GICC_PMR, 4, 0xFF)
    g.cpu_write(0, G.GICC_CTLR, 4, 1)
    assert g.pending_irq(0) and not g.pending_irq(1)
    g.cpu_write(0, G.GICC_EOIR, 4, 1023)
    assert g.cpu_read(0, G.GICC_IAR) == 0
    assert g.cpu_read(0, G.GICC_IAR) == 1023


def test_level_ppi_and_edge_spi() -> None:
    """§3.2.4: a level-sensitive interrupt is pending while its input is high: acknowledged
    it is active and pending, after EOI taken again if still high; once low it is not. An
    edge-triggered one (GICD_ICFGR Int_config[1], §4.3.13) latches one rising edge."""
    g = Gic(2)
    linux_init(g)
    g.dist_write(1, G.GICD_ISENABLER, 4, 1 << 27)
    g.set_irq(27, True, cpu=1)
    assert g.lines == (False, True)
    assert g.cpu_read(1, G.GICC_IAR) == 27
    assert g.dist_read(1, G.GICD_ISPENDR, 4) & 1 << 27
    assert g.dist_read(1, G.GICD_ISACTIVER, 4) & 1 << 27
    g.cpu_write(1, G.GICC_EOIR, 4, 27)
    assert g.pending_irq(1)  # the line is still high
    assert g.cpu_read(1, G.GICC_IAR) == 27
    g.set_irq(27, False, cpu=1)
    g.cpu_write(1, G.GICC_EOIR, 4, 27)
    assert not g.pending_irq(1)
    # SPI 40 edge-triggered
    g.dist_write(0, G.GICD_ICFGR + 8, 4, 0b10 << 16)  # Int_config of ID 40
    assert g.dist_read(0, G.GICD_ICFGR + 8, 4) == 0b10 << 16
    assert g.dist_read(0, G.GICD_ICFGR, 4) == 0xAAAAAAAA  # SGIs are edge, read-only
    g.dist_write(0, G.GICD_ITARGETSR + 40, 1, 1)
    g.dist_write(0, G.GICD_ISENABLER + 4, 4, 1 << 8)
    g.set_irq(40, True)
    g.set_irq(40, False)
    assert g.cpu_read(0, G.GICC_IAR) == 40
    g.cpu_write(0, G.GICC_EOIR, 4, 40)
    assert not g.pending_irq(0)
    with pytest.raises(ValueError):
        g.set_irq(27, True)


def test_pending_and_active_set_clear_registers() -> None:
    """§4.3.7-10: ISPENDR/ICPENDR set and clear software pending (not for SGIs, which use
    GICD_SPENDSGIR); ISACTIVER/ICACTIVER set and clear active."""
    g = Gic(1)
    linux_init(g)
    g.dist_write(0, G.GICD_ISENABLER + 4, 4, 1)
    g.dist_write(0, G.GICD_ISPENDR + 4, 4, 1)
    g.dist_write(0, G.GICD_ISPENDR, 4, 1)  # SGI 0: ignored
    assert g.dist_read(0, G.GICD_ISPENDR, 4) == 0
    assert g.cpu_read(0, G.GICC_HPPIR) == 32
    g.dist_write(0, G.GICD_ICPENDR + 4, 4, 1)
    assert g.cpu_read(0, G.GICC_HPPIR) == 1023
    g.dist_write(0, G.GICD_ISACTIVER + 4, 4, 1)
    assert g.dist_read(0, G.GICD_ICACTIVER + 4, 4) == 1
    g.dist_write(0, G.GICD_ICACTIVER + 4, 4, 1)
    assert g.dist_read(0, G.GICD_ISACTIVER + 4, 4) == 0


def test_eoimode1_needs_dir() -> None:
    """§4.4.1 EOImode 1: GICC_EOIR only drops priority; GICC_DIR deactivates (§4.4.15)."""
    g = Gic(1)
    linux_init(g)
    g.cpu_write(0, G.GICC_CTLR, 4, 1 | G.CTLR_EOIMODE)
    g.send_sgi(0, 7, 1)
    assert g.cpu_read(0, G.GICC_IAR) == 7
    g.cpu_write(0, G.GICC_EOIR, 4, 7)
    assert g.cpu_read(0, G.GICC_RPR) == 0xFF
    assert g.dist_read(0, G.GICD_ISACTIVER, 4) == 1 << 7
    g.cpu_write(0, G.GICC_DIR, 4, 7)
    assert g.dist_read(0, G.GICD_ISACTIVER, 4) == 0


def test_group1_needs_ackctl_and_fiqen_routes_group0() -> None:
    """§3.4, §4.4.4: without AckCtl, GICC_IAR returns 1022 for a group 1 interrupt and
    GICC_AIAR takes it; with FIQEn a group 0 interrupt is signalled as FIQ."""
    g = Gic(1)
    g.dist_write(0, G.GICD_CTLR, 4, 3)
    g.dist_write(0, G.GICD_IGROUPR, 4, 1 << 5)
    g.cpu_write(0, G.GICC_PMR, 4, 0xFF)
    g.cpu_write(0, G.GICC_CTLR, 4, 3)
    g.send_sgi(0, 5, 1)
    assert g.pending_irq(0)
    assert g.cpu_read(0, G.GICC_IAR) == 1022
    assert g.cpu_read(0, G.GICC_AIAR) == 5
    g.cpu_write(0, G.GICC_AEOIR, 4, 5)
    g.cpu_write(0, G.GICC_CTLR, 4, 3 | G.CTLR_FIQEN)
    g.send_sgi(0, 6, 1)
    assert g.pending_fiq(0) and not g.pending_irq(0)


def test_notify_and_checkpoint() -> None:
    """The machine hears each IRQ line change once; save/restore round-trips the state."""
    seen: list[tuple[int, bool]] = []
    g = Gic(2, notify=lambda cpu, level: seen.append((cpu, level)))
    linux_init(g)
    state = g.save_state()
    g.send_sgi(0, 1, 0b10)
    g.send_sgi(0, 1, 0b10)
    assert seen == [(1, True)]
    g.restore_state(state)
    assert seen == [(1, True), (1, False)]
    assert g.view(1).pending == ()
