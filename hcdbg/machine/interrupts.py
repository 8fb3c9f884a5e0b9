"""The board's interrupts: the GICv2, the generic timers and the PL011's line, wired to vCPUs.

What the run loop asks of it (machine.py): `before_slice` (time has passed: timers drive
their PPIs, the lines reach Unicorn; how long may this vCPU run before a timer of its own
fires), `after_slice` (did it stop in WFI), `runnable` (who is not waiting for an
interrupt), and `idle` (every powered-on vCPU waits: sleep, or with the instruction-counted
clock jump, to the next timer deadline, as QEMU does with -icount; DDI 0487 D1.6.? "Wait for
Interrupt": WFI completes when an interrupt is pending, whatever PSTATE's masks say).
"""
from __future__ import annotations

import struct

from unicorn import UC_HOOK_CODE
from unicorn import arm64_const as arm64
import threading
from typing import TYPE_CHECKING, Callable

from hcdbg.machine import board
from hcdbg.machine import gic as gicmod
from hcdbg.machine import irqline
from hcdbg.machine.sysreg import TimerTrap
from hcdbg.machine.timer import HostCounter, InstructionCounter, Timers

if TYPE_CHECKING:
    from hcdbg.machine.uart import Pl011
    from hcdbg.machine.vcpu import Vcpu

WFI = 0xD503207F


class Interrupts:
    """GIC + timers for `vcpus`. `counted`: the counter advances with instructions the
    scheduler reports (deterministic runs) instead of with the host's clock."""

    def __init__(self, vcpus: list[Vcpu], uart: Pl011, counted: bool) -> None:
        self.vcpus = vcpus
        n = len(vcpus)
        self.available = irqline.available()
        self.gic = gicmod.Gic(n, notify=self._line)
        self.counter: HostCounter | InstructionCounter = InstructionCounter() if counted else HostCounter()
        self.timers = Timers(n, self.counter, self.gic)
        self.lines = [irqline.IrqLine(v.uc) for v in vcpus]
        self.waiting = [False] * n
        self.catching: frozenset[int] | None = None
        self.caught: tuple[int, int] | None = None  # (vCPU, INTID) of the last catch
        self._vector_hooks: dict[int, list[int]] = {}
        self._vbar: dict[int, int | None] = {}
        self._resume_at: dict[int, int] = {}
        self.traps = [TimerTrap(v.uc, v.index, self.timers, counted) for v in vcpus]
        self._wake = threading.Event()
        for v in vcpus:
            self._map(v)
        uart.irq = lambda level: self.gic.set_irq(32 + board.UART_SPI, level)

    def _map(self, v: Vcpu) -> None:
        """The distributor and this vCPU's CPU interface in its address space (each vCPU
        sees its own banked registers at the same addresses, IHI 0048B §4.1.4)."""
        g, i = self.gic, v.index
        v.uc.mmio_map(gicmod.DIST_BASE, gicmod.DIST_SIZE,
                      lambda _uc, off, size, _ud: g.dist_read(i, off, size), None,
                      lambda _uc, off, size, value, _ud: g.dist_write(i, off, size, value), None)
        v.uc.mmio_map(gicmod.CPU_BASE, gicmod.CPU_SIZE,
                      lambda _uc, off, size, _ud: g.cpu_read(i, off, size), None,
                      lambda _uc, off, size, value, _ud: g.cpu_write(i, off, size, value), None)

    # --- lines ------------------------------------------------------------------------------
    def _line(self, cpu: int, level: bool) -> None:
        """The GIC changed CPU `cpu`'s nIRQ. Unicorn takes the IRQ at the next block
        boundary that PSTATE allows (irqline.py); a vCPU waiting in WFI runs again."""
        self.lines[cpu].set(level)
        if level:
            self.waiting[cpu] = False
            self._wake.set()

    def set_clock(self, counted: bool) -> None:
        """Count instructions (True) or follow the host's clock; the scheduler's slices
        follow the same choice (machine.timeslice)."""
        if counted == isinstance(self.counter, InstructionCounter):
            return
        self.counter = InstructionCounter() if counted else HostCounter()
        self.timers.set_counter(self.counter)
        for trap in self.traps:
            trap.set_counter(counted)

    def wake(self) -> None:
        """Something outside the guest happened (UART input, Ctrl-C): end an idle wait."""
        self._wake.set()

    # --- what the scheduler asks ----------------------------------------------------------------
    def before_slice(self) -> None:
        """Time has passed: timers raise or drop their PPIs as of now."""
        self.timers.poll()

    def seconds_to_deadline(self, cpu: int) -> float | None:
        """Host seconds until a timer of `cpu` fires (host clock only), None if none."""
        at = self.timers.next_deadline(cpu)
        if at is None or not isinstance(self.counter, HostCounter):
            return None
        return self.counter.seconds_until(at)

    def insns_to_deadline(self, cpu: int) -> int | None:
        """Instructions until a timer of `cpu` fires (instruction-counted clock only)."""
        at = self.timers.next_deadline(cpu)
        if at is None or not isinstance(self.counter, InstructionCounter):
            return None
        return max((at - self.counter.now() + self.counter.ticks_per_insn - 1) // self.counter.ticks_per_insn, 1)

    def after_slice(self, vcpu: Vcpu, insns: int, stop_asked: bool) -> None:
        """`vcpu`'s slice ended having run up to `insns` instructions: with a counted clock,
        time moves on; if it ended in WFI with no interrupt pending, it waits."""
        if isinstance(self.counter, InstructionCounter) and insns:
            self.counter.advance(insns)
        if stop_asked or self.lines[vcpu.index].level:
            return
        try:
            pc = vcpu.pc
            (word,) = struct.unpack("<I", b"".join(
                bytes(vcpu.uc.mem_read(pa, n)) for pa, n in vcpu.physical(pc - 4, 4)))
        except Exception:  # noqa: BLE001 - an unreadable PC is simply not a WFI
            return
        # Only once the guest uses its GIC: before that no interrupt could wake it, and
        # guests written for hcdbg's earlier board poll a flag around WFI (a yield there).
        if word == WFI and self.enabled:
            self.waiting[vcpu.index] = True

    def runnable(self, vcpu: Vcpu) -> bool:
        return not self.waiting[vcpu.index]

    def idle(self, on: list[Vcpu], stopped: Callable[[], bool]) -> bool:
        """Every vCPU in `on` waits for an interrupt: wait for the first timer deadline (or
        an outside wake-up). Returns False if nothing can ever wake them (no timer armed and
        no outside source), so the machine can report the guest as halted."""
        deadlines = [d for d in (self.timers.next_deadline(v.index) for v in on) if d is not None]
        if not deadlines:
            return False  # input to the UART arrives only while the machine is stopped
        if isinstance(self.counter, InstructionCounter):
            self.counter.skip_to(min(deadlines))
        else:
            self._wake.clear()
            if not stopped():
                self._wake.wait(self.counter.seconds_until(min(deadlines)))
        self.timers.poll()
        return True

    @property
    def enabled(self) -> bool:
        """Whether the guest has turned the distributor on (GICD_CTLR): from then on slices
        are counted (machine.run), so that timers are seen in time."""
        return bool(self.gic.ctlr)

    def irq_pending(self, cpu: int) -> bool:
        return self.lines[cpu].level

    # --- catch irq ------------------------------------------------------------------------------
    def catch(self, intids: frozenset[int] | None) -> None:
        """Stop when a vCPU takes an IRQ: any (an empty set), these INTIDs, or (None) not.

        Unicorn takes IRQs itself (irqline.py), so the stop is at the IRQ's vector entry,
        VBAR_EL1 + 0x280 (from EL1) or + 0x480 (from EL0), before its first instruction:
        a code hook on just those two words, which in a counted slice stops exactly there
        (interrupts force counted slices: machine.run). ELR_EL1/SPSR_EL1 then hold the
        interrupted context and the IRQ is not acknowledged yet (GICC_HPPIR names it)."""
        self.catching = intids
        for v in self.vcpus:
            for h in self._vector_hooks.pop(v.index, ()):
                v.uc.hook_del(h)
            self._vbar[v.index] = None
            v.uc.ctl_flush_tb()  # type: ignore[attr-defined]  # hooks apply at translation

    def arm_catch(self, vcpu: Vcpu) -> None:
        """Before a slice: hook `vcpu`'s IRQ vectors where its VBAR_EL1 now points."""
        if self.catching is None:
            return
        vbar = vcpu.uc.reg_read(arm64.UC_ARM64_REG_VBAR_EL1)
        if vbar == self._vbar.get(vcpu.index):
            return
        for h in self._vector_hooks.pop(vcpu.index, ()):
            vcpu.uc.hook_del(h)
        self._vbar[vcpu.index] = vbar
        self._vector_hooks[vcpu.index] = [
            vcpu.uc.hook_add(UC_HOOK_CODE, self._at_vector, vcpu, vbar + off, vbar + off + 3)
            for off in (0x280, 0x480)]
        vcpu.uc.ctl_flush_tb()  # type: ignore[attr-defined]

    def _at_vector(self, uc: object, address: int, _size: int, vcpu: Vcpu) -> None:
        if self._resume_at.get(vcpu.index) == address:
            self._resume_at.pop(vcpu.index)  # continuing from this stop: run the handler
            return
        intid = self.gic.cpu_read(vcpu.index, gicmod.GICC_HPPIR) & 0x3FF
        if self.catching is not None and (not self.catching or intid in self.catching):
            self.caught = (vcpu.index, intid)
            vcpu.uc.emu_stop()

    def resume_from_catch(self, vcpu: Vcpu) -> None:
        """The next slice of `vcpu` starts at the vector it stopped at: do not stop again."""
        self._resume_at[vcpu.index] = vcpu.pc

    # --- checkpoints ----------------------------------------------------------------------------
    def save_state(self) -> object:
        counter = self.counter.save_state() if isinstance(self.counter, InstructionCounter) else None
        return self.gic.save_state(), self.timers.save_state(), counter, tuple(self.waiting)

    def restore_state(self, state: object) -> None:
        gic_state, timer_state, counter, waiting = state  # type: ignore[misc]
        self.gic.restore_state(gic_state)
        self.timers.restore_state(timer_state)
        if counter is not None and isinstance(self.counter, InstructionCounter):
            self.counter.restore_state(counter)
        self.waiting = list(waiting)
        for cpu, line in enumerate(self.gic.lines):
            self.lines[cpu].set(line)

    def reset(self) -> None:
        """Power-on state: GIC and timers at their reset values, the clock back at 0 when it
        counts instructions (a reset run repeats the first)."""
        n = len(self.vcpus)
        self.gic.reset()
        self.timers.restore_state((tuple((0, 0, False) for _ in range(2 * n)), (0,) * n))
        if isinstance(self.counter, InstructionCounter):
            self.counter.restore_state((0, 0))
        self.waiting = [False] * n
        for line in self.lines:
            line.set(False)
