"""A GICv2 (distributor + CPU interfaces) as on QEMU's virt board, pure Python, no Unicorn.

Spec: Arm IHI 0048B.b, "ARM Generic Interrupt Controller Architecture Specification v2.0".
The model has no Security Extensions (QEMU virt with TCG, `secure=off`): every access is the
"Secure" view of chapter 4, there are two groups (GICD_IGROUPR) and both signal IRQ unless
GICC_CTLR.FIQEn routes group 0 to FIQ (§3.4, §4.4.1).

Interrupt IDs (§2.2.1): 0-15 SGIs, 16-31 PPIs, 32.. SPIs. SGI/PPI state is banked per CPU
interface; SPI state is one copy whose pending/active state is forwarded to the CPUs in its
GICD_ITARGETSR (the 1-N model of §1.4.3 applies to SPIs only in the sense that one CPU takes it).

How the machine uses it: MMIO reads/writes go to `dist_read/dist_write` (0x0800_0000) and
`cpu_read/cpu_write` (0x0801_0000) with the accessing vCPU's index; devices drive
`set_irq`; `pending_irq(cpu)` is that CPU's nIRQ line, `lines` all of them, and `notify`
(if set) is called with (cpu, level) whenever a line changes.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

DIST_BASE = 0x0800_0000
DIST_SIZE = 0x1_0000
CPU_BASE = 0x0801_0000
CPU_SIZE = 0x1_0000

NUM_IRQS = 288  # QEMU virt: 256 SPIs + 32 private (hw/arm/virt.c NUM_IRQS + GIC_INTERNAL)
SPURIOUS = 1023  # §3.2.5: no pending interrupt of sufficient priority
SPURIOUS_GROUP1 = 1022  # §4.4.4: highest pending is group 1 and GICC_CTLR.AckCtl is 0
IDLE_PRIORITY = 0xFF  # GICC_RPR when nothing is active (§4.4.6)
_NO_PRIORITY = 0x100  # internal: "lower than any priority"

# Distributor register offsets, IHI 0048B §4.1.2 Table 4-1.
GICD_CTLR, GICD_TYPER, GICD_IIDR = 0x000, 0x004, 0x008
GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER = 0x080, 0x100, 0x180
GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER = 0x200, 0x280, 0x300, 0x380
GICD_IPRIORITYR, GICD_ITARGETSR, GICD_ICFGR = 0x400, 0x800, 0xC00
GICD_SGIR, GICD_CPENDSGIR, GICD_SPENDSGIR = 0xF00, 0xF10, 0xF20
# CPU interface register offsets, §4.1.3 Table 4-2.
GICC_CTLR, GICC_PMR, GICC_BPR, GICC_IAR, GICC_EOIR = 0x00, 0x04, 0x08, 0x0C, 0x10
GICC_RPR, GICC_HPPIR, GICC_ABPR, GICC_AIAR, GICC_AEOIR, GICC_AHPPIR = 0x14, 0x18, 0x1C, 0x20, 0x24, 0x28
GICC_APR0, GICC_NSAPR0, GICC_IIDR, GICC_DIR = 0xD0, 0xE0, 0xFC, 0x1000

# GICC_CTLR bits without Security Extensions (§4.4.1): EnableGrp0, EnableGrp1, AckCtl,
# FIQEn, CBPR, the four bypass-disable bits (stored, no bypass modelled), EOImodeS, EOImodeNS.
CTLR_EN_GRP0, CTLR_EN_GRP1, CTLR_ACKCTL, CTLR_FIQEN, CTLR_CBPR = 1, 2, 4, 8, 16
CTLR_EOIMODE = 1 << 9  # Linux's GIC_CPU_CTRL_EOImodeNS_SHIFT is this bit in its view
_GICC_CTLR_MASK = 0x7FF

GICC_IIDR_VALUE = 0x0002_043B  # architecture version 2, implementer Arm (0x43B), as QEMU
# PrimeCell ID registers 0xFD0..0xFFC of an Arm GICv2 (ICPIDR2 at 0xFE8: ArchRev 2, §4.3.18),
# the values QEMU's arm_gic reports; only the word-aligned bytes are non-zero.
_ID_REGS = (0x04, 0x00, 0x00, 0x00, 0x90, 0xB4, 0x2B, 0x00, 0x0D, 0xF0, 0x05, 0xB1)


@dataclass
class _Irq:
    """One interrupt's state for one bank (a CPU for SGI/PPI, shared for an SPI)."""

    enabled: bool = False
    latch: bool = False  # pending by an edge or a write to GICD_ISPENDR (§3.2.4)
    level: bool = False  # the input line, for level-sensitive pending (§3.2.4)
    active: bool = False
    edge: bool = False  # GICD_ICFGR Int_config[1]
    group: int = 0
    priority: int = 0
    targets: int = 0  # SPIs only (GICD_ITARGETSR)


@dataclass
class _CpuIf:
    """One CPU interface: its banked SGI/PPI state and GICC_* registers."""

    private: list[_Irq]
    sgi_sources: list[int] = field(default_factory=lambda: [0] * 16)  # §4.3.16/17: per source
    ctlr: int = 0
    pmr: int = 0
    bpr: int = 0
    abpr: int = 1
    #: (group priority, group, interrupt, source) in acknowledge order; priority drop
    #: removes the highest priority (lowest value) one (§3.3.3 "priority drop").
    active_prios: list[tuple[int, int, int, int]] = field(default_factory=list)
    line: bool = False
    fiq_line: bool = False


@dataclass(frozen=True)
class IrqView:
    """What `info gic` shows for one vCPU: interrupt IDs by state, and the interface."""

    enabled: tuple[int, ...]
    pending: tuple[int, ...]
    active: tuple[int, ...]
    pmr: int
    running_priority: int
    irq_line: bool


class Gic:
    """The GICv2 of a board with `ncpus` CPU interfaces (1..8) and `num_irqs` interrupt IDs."""

    def __init__(self, ncpus: int, num_irqs: int = NUM_IRQS,
                 notify: Callable[[int, bool], None] | None = None) -> None:
        if not 1 <= ncpus <= 8:
            raise ValueError("a GICv2 has 1 to 8 CPU interfaces (IHI 0048B §1.4.2)")
        if num_irqs % 32 or not 32 <= num_irqs <= 1020:
            raise ValueError("num_irqs is a multiple of 32, at most 1020 (§4.3.2 ITLinesNumber)")
        self.ncpus = ncpus
        self.num_irqs = num_irqs
        self.notify = notify
        self.reset()

    # --- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Reset values (§4.3, §4.4): all disabled/inactive, priorities 0, group 0; SGIs edge
        and permanently enabled (an IMPLEMENTATION DEFINED choice §4.3.5, QEMU's); PPIs level."""
        self.ctlr = 0
        self.cpus = []
        for _ in range(self.ncpus):
            private = [_Irq(edge=i < 16, enabled=i < 16) for i in range(32)]
            self.cpus.append(_CpuIf(private))
        # A uniprocessor GIC forwards every SPI to its one CPU (§4.3.12: ITARGETSR RAZ/WI).
        self.spis = [_Irq(targets=int(self.ncpus == 1)) for _ in range(self.num_irqs - 32)]
        self._all_cpus = (1 << self.ncpus) - 1
        self._enabled_spis: set[int] = set()  # SPI numbers (ID - 32) with their enable set
        self._update()

    def save_state(self) -> object:
        """An opaque copy for a checkpoint."""
        return copy.deepcopy((self.ctlr, self.cpus, self.spis))

    def restore_state(self, state: object) -> None:
        """Back to a `save_state()`; lines are re-evaluated (and notified if they change)."""
        lines = [(c.line, c.fiq_line) for c in self.cpus]
        self.ctlr, self.cpus, self.spis = copy.deepcopy(state)  # type: ignore[misc]
        self._enabled_spis = {n for n, st in enumerate(self.spis) if st.enabled}
        for c, (line, fiq) in zip(self.cpus, lines):  # the wires as they are now
            c.line, c.fiq_line = line, fiq
        self._update()

    def _irq(self, cpu: int, irq: int) -> _Irq:
        return self.cpus[cpu].private[irq] if irq < 32 else self.spis[irq - 32]

    def _pending(self, cpu: int, irq: int, st: _Irq) -> bool:
        """§3.2.4: an SGI is pending while any source is; a level-sensitive interrupt while
        its line is high or it was latched by a write to GICD_ISPENDR; an edge one once latched."""
        if irq < 16:
            return self.cpus[cpu].sgi_sources[irq] != 0
        return st.latch or (st.level and not st.edge)

    def _group_priority(self, cpu: int, st: _Irq) -> int:
        """§3.3.3: the priority bits above the binary point; group 1 uses GICC_ABPR unless
        GICC_CTLR.CBPR (its binary point is then one less: BPR n means [7:n+1] for group 0)."""
        c = self.cpus[cpu]
        bpr = c.abpr - 1 if st.group and not c.ctlr & CTLR_CBPR else c.bpr
        return st.priority & (0xFF << (max(bpr, 0) + 1)) & 0xFF

    def _running(self, cpu: int) -> int:
        prios = self.cpus[cpu].active_prios
        return min(p[0] for p in prios) if prios else _NO_PRIORITY

    def _best(self, cpu: int) -> tuple[int, int]:
        """(interrupt, priority) of the highest priority pending, enabled, inactive interrupt
        forwarded to `cpu` (§3.2.3), ties to the lowest ID; (1023, 0x100) if there is none or
        the distributor or this CPU interface has no group enabled (§4.3.1, §4.4.1)."""
        c = self.cpus[cpu]
        best, best_prio = SPURIOUS, _NO_PRIORITY
        if not self.ctlr & 3 or not c.ctlr & (CTLR_EN_GRP0 | CTLR_EN_GRP1):
            return best, best_prio
        for irq, st in enumerate(c.private):
            if st.enabled and not st.active and st.priority < best_prio and self._pending(cpu, irq, st):
                best, best_prio = irq, st.priority
        bit = 1 << cpu
        spis = self.spis
        for n in sorted(self._enabled_spis):  # few: scanning all 256 per access was a hot spot
            st = spis[n]
            if (st.enabled and (st.latch or (st.level and not st.edge)) and not st.active
                    and st.targets & bit and st.priority < best_prio):
                best, best_prio = n + 32, st.priority
        return best, best_prio

    def _current(self, cpu: int) -> int:
        """The interrupt GICC_HPPIR/IAR would name: the best one if above GICC_PMR (§3.3.2)."""
        irq, prio = self._best(cpu)
        return irq if prio < self.cpus[cpu].pmr else SPURIOUS

    def _signals(self, cpu: int) -> tuple[bool, bool]:
        """(nIRQ, nFIQ) asserted for `cpu` (§3.3.2, §3.2.3): the current interrupt can preempt
        the running priority and its group is enabled in GICD_CTLR and GICC_CTLR."""
        irq = self._current(cpu)
        if irq == SPURIOUS:
            return False, False
        st = self._irq(cpu, irq)
        c = self.cpus[cpu]
        if self._group_priority(cpu, st) >= self._running(cpu):
            return False, False
        if not (self.ctlr >> st.group) & 1 or not (c.ctlr >> st.group) & 1:
            return False, False
        fiq = st.group == 0 and bool(c.ctlr & CTLR_FIQEN)
        return not fiq, fiq

    def _update(self) -> None:
        for cpu, c in enumerate(self.cpus):
            irq, fiq = self._signals(cpu)
            c.fiq_line = fiq
            if irq != c.line:
                c.line = irq
                if self.notify is not None:
                    self.notify(cpu, irq)

    # --- what the machine polls ---------------------------------------------------------------
    def pending_irq(self, cpu: int) -> bool:
        """Whether `cpu`'s IRQ input is asserted (taken when PSTATE.I is clear)."""
        return self.cpus[cpu].line

    def pending_fiq(self, cpu: int) -> bool:
        """Whether `cpu`'s FIQ input is asserted (group 0 with GICC_CTLR.FIQEn)."""
        return self.cpus[cpu].fiq_line

    @property
    def lines(self) -> tuple[bool, ...]:
        """Every CPU's IRQ line, by CPU index."""
        return tuple(c.line for c in self.cpus)

    def set_irq(self, irq: int, level: bool, cpu: int | None = None) -> None:
        """A device drives interrupt input `irq`: a PPI (16..31) of CPU `cpu`, or an SPI.
        An edge-triggered input latches pending on a rising edge; a level one is pending
        while high (§3.2.4)."""
        if irq < 16 or irq >= self.num_irqs:
            raise ValueError(f"interrupt {irq} is not a PPI or SPI of this GIC")
        if irq < 32:
            if cpu is None:
                raise ValueError(f"PPI {irq} needs the CPU it belongs to")
            st = self.cpus[cpu].private[irq]
        else:
            st = self.spis[irq - 32]
        level = bool(level)
        if st.edge and level and not st.level:
            st.latch = True
        if level != st.level or st.latch:
            st.level = level
            self._update()

    def view(self, cpu: int) -> IrqView:
        """A snapshot of `cpu`'s view for display."""
        en, pend, act = [], [], []
        for irq in range(self.num_irqs):
            if irq >= 32 and not self.spis[irq - 32].targets & (1 << cpu):
                continue
            st = self._irq(cpu, irq)
            if st.enabled:
                en.append(irq)
            if self._pending(cpu, irq, st):
                pend.append(irq)
            if st.active:
                act.append(irq)
        c = self.cpus[cpu]
        run = self._running(cpu)
        return IrqView(tuple(en), tuple(pend), tuple(act), c.pmr,
                       IDLE_PRIORITY if run == _NO_PRIORITY else run, c.line)

    # --- distributor --------------------------------------------------------------------------
    def dist_read(self, cpu: int, offset: int, size: int) -> int:
        """A load of `size` bytes from the distributor by `cpu` (little-endian, bytewise as
        §4.1.4 allows for the byte-accessible registers; others are read as words)."""
        if offset < GICD_IGROUPR:  # CTLR, TYPER, IIDR: word registers
            value = self._dist_word(cpu, offset & ~3)
            return (value >> 8 * (offset & 3)) & ((1 << 8 * size) - 1)
        return sum(self._dist_byte(cpu, offset + i) << 8 * i for i in range(size))

    def _dist_word(self, cpu: int, offset: int) -> int:
        if offset == GICD_CTLR:
            return self.ctlr
        if offset == GICD_TYPER:
            # §4.3.2: ITLinesNumber = lines/32 - 1, CPUNumber = CPUs - 1, SecurityExtn 0,
            # as QEMU: 8 | (n - 1) << 5 for virt's 288 interrupt IDs.
            return (self.num_irqs // 32 - 1) | (self.ncpus - 1) << 5
        # GICD_IIDR (§4.3.3): Arm as implementer, product/variant/revision 0.
        return 0x43B if offset == GICD_IIDR else 0

    def _irq_range(self, base: int, offset: int, per_byte: int) -> int | None:
        """The first interrupt ID a byte at `offset` of the register array at `base` covers."""
        irq = (offset - base) * per_byte
        return irq if irq < self.num_irqs else None

    def _dist_byte(self, cpu: int, off: int) -> int:
        bits = None
        if GICD_IGROUPR <= off < 0x400:  # the five one-bit-per-interrupt arrays (§4.3.4-10)
            base = off & ~0x7F if off >= 0x100 else GICD_IGROUPR
            first = self._irq_range(base, off, 8)
            if first is None:
                return 0
            bits = 0
            for i in range(8):
                irq = first + i
                st = self._irq(cpu, irq)
                if base == GICD_IGROUPR:
                    on = bool(st.group)
                elif base in (GICD_ISENABLER, GICD_ICENABLER):
                    on = st.enabled
                elif base in (GICD_ISPENDR, GICD_ICPENDR):
                    on = self._pending(cpu, irq, st)
                else:
                    on = st.active
                bits |= on << i
            return bits
        if GICD_IPRIORITYR <= off < GICD_ITARGETSR:  # §4.3.11, byte-accessible
            irq = off - GICD_IPRIORITYR
            return self._irq(cpu, irq).priority if irq < self.num_irqs else 0
        if GICD_ITARGETSR <= off < GICD_ICFGR:  # §4.3.12
            irq = off - GICD_ITARGETSR
            if self.ncpus == 1 or irq >= self.num_irqs:
                return 0  # RAZ/WI on a uniprocessor GIC
            # SGI/PPI: read-only, "the value that corresponds only to the processor reading".
            return 1 << cpu if irq < 32 else self.spis[irq - 32].targets
        if GICD_ICFGR <= off < 0xD00:  # §4.3.13: Int_config[1] (bit 2n+1) = edge
            first = self._irq_range(GICD_ICFGR, off, 4)
            if first is None:
                return 0
            return sum(self._irq(cpu, first + i).edge << (2 * i + 1) for i in range(4))
        if GICD_CPENDSGIR <= off < 0xF30:  # §4.3.16/17: one byte per SGI, a bit per source
            return self.cpus[cpu].sgi_sources[(off - GICD_CPENDSGIR) & 0xF]
        if 0xFD0 <= off < 0x1000:
            return 0 if off & 3 else _ID_REGS[(off - 0xFD0) >> 2]
        return 0

    def dist_write(self, cpu: int, offset: int, size: int, value: int) -> None:
        """A store of `size` bytes to the distributor by `cpu`."""
        if offset == GICD_SGIR:
            if size == 4:
                self._sgir(cpu, value)  # word-only register (§4.3.15)
        elif offset == GICD_CTLR:
            self.ctlr = value & 3  # EnableGrp0, EnableGrp1 (§4.3.1, no Security Extensions)
        elif offset >= GICD_IGROUPR:
            for i in range(size):
                self._dist_write_byte(cpu, offset + i, (value >> 8 * i) & 0xFF)
        self._update()

    def _dist_write_byte(self, cpu: int, off: int, byte: int) -> None:
        if GICD_IGROUPR <= off < 0x400:
            base = off & ~0x7F if off >= 0x100 else GICD_IGROUPR
            first = self._irq_range(base, off, 8)
            if first is None:
                return
            for i in range(8):
                if base != GICD_IGROUPR and not (byte >> i) & 1:
                    continue  # set/clear arrays: a 0 bit has no effect
                irq = first + i
                st = self._irq(cpu, irq)
                if base == GICD_IGROUPR:
                    st.group = (byte >> i) & 1
                elif base == GICD_ISENABLER:
                    st.enabled = True
                    if irq >= 32:
                        self._enabled_spis.add(irq - 32)
                elif base == GICD_ICENABLER:
                    st.enabled = st.enabled and irq < 16  # SGIs are always enabled (§4.3.6)
                    self._enabled_spis.discard(irq - 32)
                elif base == GICD_ISPENDR:
                    st.latch = st.latch or irq >= 16  # SGIs: use GICD_SPENDSGIR (§4.3.7)
                elif base == GICD_ICPENDR:
                    st.latch = st.latch and irq < 16
                elif base == GICD_ISACTIVER:
                    st.active = True
                else:
                    st.active = False
        elif GICD_IPRIORITYR <= off < GICD_ITARGETSR:
            irq = off - GICD_IPRIORITYR
            if irq < self.num_irqs:
                self._irq(cpu, irq).priority = byte  # all 8 bits implemented, as QEMU
        elif GICD_ITARGETSR + 32 <= off < GICD_ICFGR:  # SGI/PPI targets are read-only
            irq = off - GICD_ITARGETSR
            if irq < self.num_irqs and self.ncpus > 1:
                self.spis[irq - 32].targets = byte & self._all_cpus
        elif GICD_ICFGR + 4 <= off < 0xD00:  # ICFGR0 (SGIs) is read-only: always edge
            first = self._irq_range(GICD_ICFGR, off, 4)
            if first is not None:
                for i in range(4):
                    self._irq(cpu, first + i).edge = bool((byte >> (2 * i + 1)) & 1)
        elif GICD_CPENDSGIR <= off < GICD_SPENDSGIR:
            self.cpus[cpu].sgi_sources[off - GICD_CPENDSGIR] &= ~byte
        elif GICD_SPENDSGIR <= off < 0xF30:
            self.cpus[cpu].sgi_sources[off - GICD_SPENDSGIR] |= byte & self._all_cpus

    def _sgir(self, cpu: int, value: int) -> None:
        """GICD_SGIR (§4.3.15): SGIINTID [3:0], CPUTargetList [23:16], TargetListFilter
        [25:24]: 0 the list, 1 all CPUs but the writer, 2 the writer only, 3 reserved (ignored)."""
        sgi, filt = value & 0xF, (value >> 24) & 3
        if filt == 0:
            targets = (value >> 16) & self._all_cpus
        elif filt == 1:
            targets = self._all_cpus & ~(1 << cpu)
        elif filt == 2:
            targets = 1 << cpu
        else:
            return
        for target in range(self.ncpus):
            if targets >> target & 1:
                self.cpus[target].sgi_sources[sgi] |= 1 << cpu

    def send_sgi(self, source: int, sgi: int, targets: int) -> None:
        """An SGI from `source` to the CPUs in bitmask `targets`, as a GICD_SGIR list write."""
        self.dist_write(source, GICD_SGIR, 4, (targets & 0xFF) << 16 | (sgi & 0xF))

    # --- CPU interface ------------------------------------------------------------------------
    def cpu_read(self, cpu: int, offset: int, size: int = 4) -> int:
        """A load from `cpu`'s own CPU interface (GICC_*, word registers, §4.4)."""
        c = self.cpus[cpu]
        if offset == GICC_IAR:
            return self._acknowledge(cpu, any_group=False)
        if offset == GICC_AIAR:
            return self._acknowledge(cpu, any_group=True)
        if offset == GICC_CTLR:
            return c.ctlr
        if offset == GICC_PMR:
            return c.pmr
        if offset == GICC_BPR:
            return c.bpr
        if offset == GICC_ABPR:
            return c.abpr
        if offset == GICC_RPR:
            run = self._running(cpu)
            return IDLE_PRIORITY if run == _NO_PRIORITY else run
        if offset in (GICC_HPPIR, GICC_AHPPIR):
            irq = self._current(cpu)
            if irq == SPURIOUS:
                return irq
            group = self._irq(cpu, irq).group
            if offset == GICC_AHPPIR:
                return irq if group else SPURIOUS
            if group and not c.ctlr & CTLR_ACKCTL:
                return SPURIOUS_GROUP1
            return irq | (self._sgi_source(cpu, irq) << 10 if irq < 16 else 0)
        if GICC_APR0 <= offset < GICC_NSAPR0 + 16:
            return self._apr(cpu, (offset - GICC_APR0) // 4)
        if offset == GICC_IIDR:
            return GICC_IIDR_VALUE
        return 0

    def cpu_write(self, cpu: int, offset: int, size: int, value: int) -> None:
        """A store to `cpu`'s own CPU interface."""
        c = self.cpus[cpu]
        if offset == GICC_CTLR:
            c.ctlr = value & _GICC_CTLR_MASK
        elif offset == GICC_PMR:
            c.pmr = value & 0xFF
        elif offset == GICC_BPR:
            c.bpr = value & 7
        elif offset == GICC_ABPR:
            c.abpr = max(value & 7, 1)  # minimum is one more than GICC_BPR's (§4.4.8)
        elif offset in (GICC_EOIR, GICC_AEOIR):
            self._eoi(cpu, value)
        elif offset == GICC_DIR:
            self._deactivate(cpu, value)
        self._update()

    def _sgi_source(self, cpu: int, sgi: int) -> int:
        sources = self.cpus[cpu].sgi_sources[sgi]
        return (sources & -sources).bit_length() - 1 if sources else 0

    def _acknowledge(self, cpu: int, any_group: bool) -> int:
        """GICC_IAR (§4.4.4, §3.2.4): the current interrupt becomes active (and stays pending
        if a level input is still high or another SGI source is pending); the running
        priority rises to its group priority. 1023 if nothing has sufficient priority;
        1022 for group 1 through GICC_IAR without AckCtl. GICC_AIAR takes group 1 only."""
        c = self.cpus[cpu]
        irq = self._current(cpu)
        if irq == SPURIOUS:
            return SPURIOUS
        st = self._irq(cpu, irq)
        if any_group and not st.group:
            return SPURIOUS
        if not any_group and st.group and not c.ctlr & CTLR_ACKCTL:
            return SPURIOUS_GROUP1
        prio = self._group_priority(cpu, st)
        if prio >= self._running(cpu):
            return SPURIOUS
        source = 0
        if irq < 16:
            source = self._sgi_source(cpu, irq)
            c.sgi_sources[irq] &= ~(1 << source)
        else:
            st.latch = False
        st.active = True
        c.active_prios.append((prio, st.group, irq, source))
        self._update()
        return irq | source << 10

    def _eoi(self, cpu: int, value: int) -> None:
        """GICC_EOIR (§4.4.5): priority drop, and with GICC_CTLR.EOImode 0 deactivation too.
        A write naming an interrupt that is not active on this CPU is ignored (QEMU too);
        IDs 1020-1023 are spurious and ignored (§3.2.5)."""
        irq, source = value & 0x3FF, (value >> 10) & 7
        if irq >= self.num_irqs or not self._irq(cpu, irq).active:
            return
        c = self.cpus[cpu]
        entries = [e for e in c.active_prios if e[2] == irq and (irq >= 16 or e[3] == source)]
        if not entries:
            return
        # Priority drop removes the highest active priority (§3.3.3); the guest must EOI in
        # reverse order of acknowledgement, so that is the entry it names.
        c.active_prios.remove(entries[-1])
        if not c.ctlr & CTLR_EOIMODE:
            self._irq(cpu, irq).active = False

    def _deactivate(self, cpu: int, value: int) -> None:
        """GICC_DIR (§4.4.15): deactivation only, for EOImode 1."""
        irq = value & 0x3FF
        if irq < self.num_irqs and self.cpus[cpu].ctlr & CTLR_EOIMODE:
            self._irq(cpu, irq).active = False

    def _apr(self, cpu: int, n: int) -> int:
        """GICC_APRn / GICC_NSAPRn (§4.4.12-13) as QEMU lays them out: bit = group priority
        >> 1 (32 preemption levels a register), group 0 in APR0-3, group 1 in NSAPR0-3."""
        group, reg = divmod(n, 4)
        bits = 0
        for prio, g, _irq, _src in self.cpus[cpu].active_prios:
            level = prio >> 1
            if g == group and level // 32 == reg:
                bits |= 1 << (level % 32)
        return bits
