"""The virt-like machine: vCPUs over one RAM, a round-robin scheduler, run control.

The run loop never formats or prints. HVC/SMC traps are handed to `on_call` *inside* the
interrupt hook, so a call the session answers (built-in or deny) costs no `emu_start`
restart; only a call the session forwards, a breakpoint, a fault or a power event stops
emulation (reference unicorn-aarch64.md: "intno 11 = HVC, 13 = SMC, PC already past").
"""
from __future__ import annotations

import ctypes
import mmap
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from unicorn import UC_HOOK_INTR, UC_HOOK_MEM_UNMAPPED, UcError
from unicorn import arm64_const as arm64

from hcdbg.errors import HcdbgError, UsageError
from hcdbg.machine import board
from hcdbg.machine import blocks, exactstop
from hcdbg.machine import exceptions as exc_entry
from hcdbg.machine import native
from hcdbg.machine.callregs import hook_intr
from hcdbg.machine.native import NativeCalls
from hcdbg.machine.coherence import CoherenceWatch
from hcdbg.machine.fastcalls import FastPath
from hcdbg.machine.interrupts import Interrupts
from hcdbg.machine.loader import Image, boot_blobs
from hcdbg.machine.preempt import Preempter
from hcdbg.machine.traps import UNMAPPED, Traps
from hcdbg.machine.uart import Pl011
from hcdbg.machine.vcpu import Vcpu
from hcdbg.smccc.call import Call, PowerState
from hcdbg.smccc.effects import Effect
from hcdbg.stop import Stop, StopKind

_CNTPCT = (14, 0, 3, 3, 1)  # CP_REG (crn, crm, op0, op1, op2)
_CNTVCT = (14, 0, 3, 3, 2)
_UNTIL = 0xFFFF_FFFF_FFFF_FFFF  # never a valid PC: run until stopped or count is spent
#: Seconds after which a counted slice that has not ended is taken to spin at a breakpoint
#: with a masked IRQ pending (irqline.py); a quantum of 20000 instructions takes ~1 ms.
_SPIN_GUARD = 2.0


#: The session's call handler: return True if it answered the call (the guest goes on),
#: False to stop the run with a CALL stop (forwarded). It may call Machine.apply().
CallHandler = Callable[[Vcpu, Call], bool]


@dataclass
class _Pending:
    stop: Stop | None = None
    error: BaseException | None = None


@dataclass
class MachineConfig:
    """How to build the board."""

    smp: int = 1
    ram_size: int = board.DEFAULT_RAM_SIZE
    conduit: str = "hvc"
    quantum: int = 20_000  # instructions per counted vCPU slice when several vCPUs are on
    #: Seconds a vCPU runs before the next one's turn when several are on (see preempt.py);
    #: 0: count `quantum` instructions instead, a reproducible interleaving but slower.
    timeslice: float = 0.01
    catch: set[str] = field(default_factory=set)  # exception names to stop on, not deliver
    bootargs: str = ""
    initrd: bytes | None = None  # placed as QEMU's -initrd, /chosen/linux,initrd-* set
    dtb: bytes | None = None  # the user's device tree (checked) instead of the built one
    no_reboot: bool = False  # like QEMU -no-reboot: SYSTEM_RESET ends the run instead
    idle_states: bool = False  # the built tree offers a CPU_SUSPEND idle state (fdt.py)


class Machine(Traps):
    """The board: shared RAM, UART, vCPUs, breakpoints, and run control."""

    def __init__(self, image: Image, config: MachineConfig | None = None,
                 uart_sink: Callable[[bytes], None] | None = None) -> None:
        self.config = cfg = config or MachineConfig()
        if not 1 <= cfg.smp <= board.MAX_VCPUS:
            raise UsageError(f"--smp {cfg.smp}: must be 1..{board.MAX_VCPUS} (the GICv2 has 8 CPU interfaces)")
        if not board.MIN_RAM_SIZE <= cfg.ram_size <= board.MAX_RAM_SIZE or cfg.ram_size % 0x1000:
            raise UsageError(f"--mem {cfg.ram_size >> 20}M: must be 16M..8G, a multiple of 4K")
        self.image = image
        self.uart = Pl011(uart_sink)
        try:
            self._mmap = mmap.mmap(-1, cfg.ram_size)
        except OSError as exc:  # ENOMEM under an address-space limit (ulimit -v)
            raise UsageError(f"--mem {cfg.ram_size >> 20}M: cannot map the guest's RAM ({exc.strerror}); "
                             "give less --mem or raise the memory limit") from None
        self._ram_size = cfg.ram_size
        self.ram = (ctypes.c_char * cfg.ram_size).from_buffer(self._mmap)
        self.on_call: CallHandler = lambda _v, _t: False
        #: Answers the trap gives without on_call (fastcalls.py); None: every call goes there.
        self.fast_calls: FastPath | None = None
        devices = list(board.DEVICE_REGIONS)
        memory: list[tuple[int, ctypes.Array]] = [(board.RAM_BASE, self.ram)]
        self._flash: mmap.mmap | None = None
        if any(s.address < board.FLASH_BASE + board.FLASH_SIZE for s in image.segments):
            # Firmware for QEMU's -bios slot: the flash banks become memory too.
            self._flash = mmap.mmap(-1, board.FLASH_SIZE)
            memory.append((board.FLASH_BASE, (ctypes.c_char * board.FLASH_SIZE).from_buffer(self._flash)))
        self.vcpus = [Vcpu(i, board.mpidr_of(i), memory, self.uart, devices) for i in range(cfg.smp)]
        self._pending = [_Pending() for _ in self.vcpus]
        #: Per vCPU: (access, physical address, size) of its last access to nothing, and the
        #: CPU state just before it when it was a store (see _on_unmapped).
        self._fault: list[tuple[int, int, int] | None] = [None] * cfg.smp
        self._before_store: list[object | None] = [None] * cfg.smp
        #: The GIC, the timers and the UART's interrupt (interrupts.py). The clock counts
        #: instructions when slices do (timeslice 0: deterministic, recording, replaying).
        self.irq = Interrupts(self.vcpus, self.uart, counted=cfg.timeslice == 0)
        self._intr_hooks: list[object] = []  # ctypes callbacks libunicorn calls: keep alive
        #: The native call path (native.py): C answers the calls of its table and hands the
        #: rest to _on_intr; None where the extension is not built or HCDBG_NATIVE=0.
        self.native: NativeCalls | None = None
        if native.available():
            try:
                self.native = NativeCalls(self.ram, cfg.ram_size)
            except MemoryError:  # pragma: no cover
                self.native = None
        #: Per vCPU: slices counted by blocks (blocks.py), None where Unicorn must count.
        self._blocks = [blocks.BlockBudget(v.uc) if blocks.available() else None for v in self.vcpus]
        for v in self.vcpus:
            hook = self.native.hook(v.uc, self._on_intr, v.index) if self.native is not None else None
            if hook is None:
                hook = hook_intr(v.uc, self._on_intr, v.index)
            if hook is None:
                v.uc.hook_add(UC_HOOK_INTR, self._on_intr, v.index)
            self._intr_hooks.append(hook)
        # The unmapped-access hook covers only what is not RAM or flash: a memory hook over
        # RAM sends every store through Unicorn's slow path (it never marks a page dirty in
        # its TLB while one exists: Linux to its first PSCI call 0.15 s -> 0.21 s).
        lowest = board.FLASH_SIZE if self._flash is not None else 0
        for v in self.vcpus:
            for begin, end in ((lowest, board.RAM_BASE - 1), (board.RAM_BASE + cfg.ram_size, _UNTIL)):
                v.uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped, v.index, begin, end)
        #: Breakpoint addresses: Unicorn exits on every vCPU, so a block ends before one.
        self.breakpoints: set[int] = set()
        #: Whether another thread may stop a running vCPU: only if Unicorn can be made to
        #: take such a stop between blocks (exactstop.py), and only in uncounted slices.
        self.exact_async_stops = exactstop.available()
        self._running: Vcpu | None = None  # the vCPU in an uncounted slice, under _run_lock
        self._run_lock = threading.Lock()
        self._interrupt = threading.Event()
        self._next = 0
        self._stopped_at: list[int | None] = [None] * cfg.smp  # PC of each vCPU's last stop
        self._last_run = self.vcpus[0]
        #: Time slices (seconds; 0: counted slices). Recording and replaying set it to 0.
        self._timeslice = cfg.timeslice
        self._preempt = Preempter()
        #: Set once the machine has delivered an exception to a guest's vectors (traps.py).
        self.exceptions_delivered = False
        self.coherence = CoherenceWatch()
        self.dtb_address = 0
        #: Instructions charged against `max_insns` budgets so far (an upper bound).
        self.insns_charged = 0
        #: (insns_charged at which runs stop, why): a limit set by `limit_runs`.
        self._limit: tuple[int, str] | None = None
        self._check_image()
        self.reset()

    @property
    def timeslice(self) -> float:
        """Seconds a vCPU runs before the next one's turn; 0: counted slices, and a clock
        that counts instructions, so a run repeats exactly (recording, replay)."""
        return self._timeslice

    @timeslice.setter
    def timeslice(self, seconds: float) -> None:
        self._timeslice = seconds
        self.irq.set_clock(counted=seconds == 0)

    # --- Platform protocol (what handlers may read) ---------------------------------
    def mpidrs(self) -> tuple[int, ...]:
        return tuple(v.mpidr for v in self.vcpus)

    def power_state(self, index: int) -> PowerState:
        return self.vcpus[index].state

    def clock_snapshot(self, index: int, physical: bool) -> tuple[int, int]:
        """(wall clock ns, CNTPCT or CNTVCT as vCPU `index` reads it) for KVM's PTP call
        (handlers.base.ClockPlatform). Unicorn's counter is the host's monotonic clock at
        62.5 MHz (reference unicorn-aarch64.md); CNTVOFF is 0, so both counters agree."""
        wall = time.time_ns()
        return wall, self.vcpus[index].uc.reg_read(arm64.UC_ARM64_REG_CP_REG, _CNTPCT if physical else _CNTVCT)

    # --- loading and reset --------------------------------------------------------------
    def _check_image(self) -> None:
        lo, hi = board.RAM_BASE, board.RAM_BASE + self.config.ram_size
        for seg in self.image.segments:
            end = seg.address + max(seg.memsize, len(seg.data))
            in_ram = lo <= seg.address and end <= hi
            in_flash = (self._flash is not None and board.FLASH_BASE <= seg.address
                        and end <= board.FLASH_BASE + board.FLASH_SIZE)
            if not (in_ram or in_flash):
                raise UsageError(
                    f"{self.image.path}: segment {seg.address:#x}-{end:#x} is outside RAM "
                    f"{lo:#x}-{hi:#x} and flash 0x0-{board.FLASH_SIZE:#x} (use --mem or relink the guest)")

    def reset(self) -> None:
        """Fresh RAM with the image and DTB; vCPU 0 at the entry point, the others off."""
        try:  # give the pages back: untouched guest RAM then costs no host memory
            self._mmap.madvise(mmap.MADV_REMOVE)  # shared anonymous map: reads zero after
        except (AttributeError, OSError):  # not Linux
            ctypes.memset(self.ram, 0, len(self.ram))
        if self._flash is not None:
            self._flash[:] = b"\xff" * board.FLASH_SIZE  # erased flash reads as all-ones
        for seg in self.image.segments:
            if seg.address >= board.RAM_BASE:
                self._mmap[seg.address - board.RAM_BASE:seg.address - board.RAM_BASE + len(seg.data)] = seg.data
            else:
                assert self._flash is not None
                self._flash[seg.address:seg.address + len(seg.data)] = seg.data
        cfg = self.config
        boot = boot_blobs(self.image, ram_size=cfg.ram_size, mpidrs=self.mpidrs(), conduit=cfg.conduit,
                          bootargs=cfg.bootargs, initrd=cfg.initrd, dtb=cfg.dtb,
                          idle_states=cfg.idle_states)
        self.dtb_address = boot.dtb_address
        for seg in boot.segments:  # initrd and device tree, where QEMU's boot puts them
            self._mmap[seg.address - board.RAM_BASE:seg.address - board.RAM_BASE + len(seg.data)] = seg.data
        self.uart.reset()
        self.irq.reset()
        self.exceptions_delivered = False
        self._stopped_at = [None] * len(self.vcpus)
        for v, p in zip(self.vcpus, self._pending):
            v.state = PowerState.OFF
            p.stop = p.error = None
        # arm64 boot protocol: x0 = DTB address, x1..x3 = 0.
        self.vcpus[0].power_on(self.image.entry, self.dtb_address)
        self._next = 0

    # --- memory ------------------------------------------------------------------------
    def read_memory(self, address: int, size: int, vcpu: int = 0) -> bytes:
        """Bytes at `address` as vCPU `vcpu` sees it: through its page tables when its MMU
        is on (a kernel's virtual addresses), else physical."""
        uc = self.vcpus[vcpu].uc
        try:
            return b"".join(bytes(uc.mem_read(pa, n)) for pa, n in self.vcpus[vcpu].physical(address, size))
        except UcError:
            raise UsageError(f"cannot access memory at {address:#x}: not mapped") from None
        except OverflowError:
            raise UsageError(f"address {address:#x} is out of range") from None

    def write_memory(self, address: int, data: bytes, vcpu: int = 0) -> None:
        """Write guest memory (at `address` as vCPU `vcpu` sees it) and drop any code
        translated from it."""
        uc = self.vcpus[vcpu].uc
        try:
            done = 0
            for pa, n in self.vcpus[vcpu].physical(address, len(data)):
                uc.mem_write(pa, data[done:done + n])
                done += n
        except UcError:
            raise UsageError(f"cannot access memory at {address:#x}: not mapped") from None
        for v in self.vcpus:
            v.uc.ctl_remove_cache(address, address + len(data))

    # --- breakpoints -----------------------------------------------------------------------
    def catch(self, short: str, on: bool = True) -> str:
        """Stop at (or, `on` False, deliver again) the exception users call `short` (a key of
        exceptions.CATCH_NAMES: svc, brk, undef, iabt, dabt); returns its full name."""
        name = exc_entry.CATCH_NAMES[short]
        if on:
            self.config.catch.add(name)
        else:
            self.config.catch.discard(name)
        return name

    def catch_irq(self, intids: frozenset[int] | None) -> None:
        """Stop before a vCPU takes an IRQ (any: an empty set; these INTIDs), or (None) not."""
        self.irq.catch(intids)

    def add_breakpoint(self, address: int) -> None:
        if address not in self.breakpoints:
            self.breakpoints.add(address)
            self._set_exits(self.vcpus, self.breakpoints)

    def remove_breakpoint(self, address: int) -> None:
        if address in self.breakpoints:
            self.breakpoints.discard(address)
            self._set_exits(self.vcpus, self.breakpoints)

    @staticmethod
    def _set_exits(vcpus: list[Vcpu], addresses: set[int]) -> None:
        """Make `addresses` the exits of `vcpus`. Exits are looked up when code is
        translated, so code translated before is dropped."""
        for v in vcpus:
            v.uc.ctl_set_exits(sorted(addresses))  # type: ignore[attr-defined]
            v.uc.ctl_flush_tb()  # type: ignore[attr-defined]

    # --- effects of handled calls (smccc.effects.EffectTarget) ----------------------------
    def apply(self, effect: Effect, vcpu: Vcpu) -> None:
        """Carry out what a handler asked for; called from inside the trap hook."""
        effect.apply(self, vcpu.index)

    def power_on_vcpu(self, caller: int, target: int, entry: int, context_id: int) -> None:
        self.vcpus[target].power_on(entry, context_id)
        self.irq.waiting[target] = False
        self.coherence.armed = True  # from now on one vCPU may change what another runs or maps
        # A slice may have been started unbounded (one vCPU on): end it so the
        # scheduler starts time-slicing with the new vCPU.
        self.vcpus[caller].uc.emu_stop()

    def power_off_vcpu(self, caller: int) -> None:
        vcpu = self.vcpus[caller]
        vcpu.state = PowerState.OFF
        vcpu.uc.emu_stop()

    def suspend_vcpu(self, caller: int, entry: int | None, context_id: int) -> None:
        vcpu = self.vcpus[caller]
        if entry is not None:  # power-down: resume at the entry point
            vcpu.enter(entry, context_id)
        # Like WFI: it waits for an interrupt (DEN0022D.b §5.4.1: a wake-up event, whatever
        # PSTATE's masks), then resumes after the call or, powered down, at its entry point.
        self.irq.waiting[caller] = not self.irq.irq_pending(caller)
        vcpu.uc.emu_stop()

    def end_run(self, caller: int, reset: bool, reason: str) -> None:
        self._stop(self.vcpus[caller], StopKind.RESET if reset else StopKind.POWER_OFF, reason)

    def undefined_instruction(self, caller: int) -> None:
        vcpu = self.vcpus[caller]
        self._exception(vcpu, exc_entry.INTNO_UDEF, exc_entry.Syndrome(exc_entry.EC_UNKNOWN, 0, vcpu.pc - 4))

    def apply_now(self, effect: Effect, vcpu: Vcpu) -> Stop | None:
        """`apply` outside a run (answering a forwarded call): returns the stop it causes,
        after the same bookkeeping as a stop from a run (a reset restarts the guest)."""
        self.apply(effect, vcpu)
        p = self._pending[vcpu.index]
        stop, p.stop = p.stop, None
        return self._stopped(stop) if stop is not None else None

    # --- run control -----------------------------------------------------------------------
    def interrupt(self) -> None:
        """Ask a run in progress (on another thread) to stop soon. Safe from any thread.

        An uncounted slice is stopped at once (exactly: exactstop.py); a counted slice ends
        by itself within `quantum` instructions, and the run loop sees the request then. A
        stop that lands after the slice is marked but before Unicorn starts it is lost
        (uc_emu_start clears stop requests as it begins), as is one before `run` starts:
        call this until the run returns, as session.runner.run_interruptible does."""
        self._interrupt.set()
        self.irq.wake()
        with self._run_lock:
            if self._running is not None:
                self._running.uc.emu_stop()

    def _slice(self, vcpu: Vcpu, count: int, by_blocks: bool = False) -> Stop | None:
        """Run one vCPU for up to `count` instructions (0: until something stops it);
        `by_blocks`: about `count`, counted a block at a time (blocks.py)."""
        index = vcpu.index
        breakpoints = self.breakpoints  # each PC read is a Unicorn call: none without them
        if breakpoints and self._stopped_at[index] is not None:
            pc = vcpu.pc
            if self._stopped_at[index] == pc and pc in breakpoints:
                # Resuming from a breakpoint executes its instruction, as gdb steps over it.
                self._stopped_at[index] = None
                stop = self._past_breakpoint(vcpu)
                if stop is not None or count == 1 or vcpu.state is not PowerState.ON:
                    return stop
                count = max(count - 1, 0)
        if self.irq.catching is not None and self._stopped_at[index] is not None:
            if self._stopped_at[index] == vcpu.pc:
                self.irq.resume_from_catch(vcpu)  # continuing from a caught IRQ's vector
        self._stopped_at[index] = None
        if self._interrupt.is_set():
            return None
        stop = self._emulate(vcpu, count, by_blocks)
        if stop is None and breakpoints and vcpu.state is PowerState.ON:
            pc = vcpu.pc
            if pc in breakpoints:
                stop = Stop(StopKind.BREAKPOINT, index, pc, f"breakpoint at {pc:#x}")
        return stop

    def _past_breakpoint(self, vcpu: Vcpu) -> Stop | None:
        """Execute the one instruction at a breakpoint: without its exit, counted."""
        self._set_exits([vcpu], self.breakpoints - {vcpu.pc})
        try:
            return self._emulate(vcpu, 1)
        finally:
            self._set_exits([vcpu], self.breakpoints)

    def _emulate(self, vcpu: Vcpu, count: int, by_blocks: bool = False) -> Stop | None:
        """One emu_start of `vcpu`: `count` instructions, or (0) until something stops it;
        `by_blocks`: about `count`, counted by blocks where this vCPU can (blocks.py)."""
        p = self._pending[vcpu.index]
        if vcpu.misaligned.fresh:  # its first block, which the hook never sees (pcalign.py)
            vcpu.misaligned.fresh = False
            if vcpu.pc & 3:
                vcpu.misaligned.pc = vcpu.pc
                self._pc_alignment(vcpu)
                stop, p.stop = p.stop, None
                return stop
        budget = self._blocks[vcpu.index] if by_blocks and count > 0 else None
        if budget is not None and not budget.arm(count):
            budget = None
        counted = count > 0 and budget is None  # by Unicorn, a hook on every instruction
        if counted != vcpu.counted:
            # Unicorn instruments translated blocks for instruction counting only while a
            # count is set; blocks cached by an uncounted run would never stop a counted
            # one (seen here: a 20000-instruction slice that never ended). Retranslate.
            vcpu.uc.ctl_flush_tb()  # type: ignore[attr-defined]  # generated at runtime
            vcpu.counted = counted
        self.coherence.before_slice(vcpu)
        # A counted slice's count is a code hook, which stops exactly only where Unicorn
        # checks after each instruction's hook; such code is never stopped from outside.
        # A slice counted by blocks stops itself, at a block's start before the block runs;
        # no other thread stops it (`_time_slices_safe`), so it is not `_running`.
        exact = not counted and self.exact_async_stops
        vcpu.exact_stops.enable(exact)
        if exact and budget is None:
            with self._run_lock:
                self._running = vcpu
        irq = self.irq
        irq.before_slice()
        irq.arm_catch(vcpu)
        try:
            try:
                vcpu.uc.emu_start(vcpu.pc, _UNTIL, 0, count if budget is None else 0)
            finally:
                if budget is not None:
                    budget.disarm()
                if self.native is not None:
                    self.native.drain()  # the calls answered in C join the history now
        except UcError as exc:
            before, self._before_store[vcpu.index] = self._before_store[vcpu.index], None
            if exc.errno not in UNMAPPED:
                return self._fault_stop(vcpu, exc)
            if before is not None:  # the CPU as it was at the faulting store (traps.py)
                vcpu.uc.context_restore(before)
            return self._abort(vcpu, exc)
        finally:
            if exact and budget is None:
                with self._run_lock:
                    self._running = None
        if vcpu.misaligned.pc is not None:
            self._pc_alignment(vcpu)
        if p.error is None and p.stop is None and vcpu.state is PowerState.ON:
            irq.after_slice(vcpu, count, self._preempt.fired or self._interrupt.is_set())
        if p.error is not None:
            err, p.error = p.error, None
            if isinstance(err, UcError):  # a guest access the hook could not make: a fault
                return Stop(StopKind.FAULT, vcpu.index, vcpu.pc, f"{err} (pc {vcpu.pc:#x})")
            raise err
        stop, p.stop = p.stop, None
        if stop is None and irq.caught is not None:
            index, intid = irq.caught
            irq.caught = None
            stop = Stop(StopKind.EXCEPTION, index, vcpu.pc,
                        f"IRQ {intid} taken by vCPU {index} (caught; ELR_EL1 is where it interrupted)")
        return stop

    def limit_runs(self, insns: int | None, reason: str = "", caller: Vcpu | None = None) -> None:
        """Stop this run and the next ones (MAX_INSNS, `reason`) once about `insns` more
        instructions have run, as a budget would (None: no such limit). From inside a hook,
        `caller`'s slice ends there, so the count starts at once."""
        self._limit = None if insns is None else (self.insns_charged + insns, reason)
        if caller is not None:
            caller.uc.emu_stop()

    def _runnable(self) -> list[Vcpu]:
        return [v for v in self.vcpus if v.state is PowerState.ON]

    def run(self, max_insns: int | None = None) -> Stop:
        """Run every powered-on vCPU, round robin, until a stop event.

        `max_insns` bounds the instructions executed by this call; a slice that ends early
        (a stop, WFI, CPU_OFF) is charged in full, so the bound is conservative. A vCPU in
        WFI sits out until it has an interrupt; when all do, the machine waits for the
        next timer deadline (interrupts.py)."""
        self._interrupt.clear()
        budget = max_insns
        irq = self.irq
        while True:
            if self._interrupt.is_set():
                v = self._last_run
                return self._stopped(Stop(StopKind.INTERRUPT, v.index, v.pc, "interrupted"))
            on = self._runnable()
            if not on:
                return Stop(StopKind.HALTED, 0, self.vcpus[0].pc, "no vCPU is powered on")
            irq.before_slice()
            ready = [v for v in on if irq.runnable(v)]
            if not ready:
                if not irq.idle(on, self._interrupt.is_set):
                    v = self._last_run
                    return self._stopped(Stop(StopKind.HALTED, v.index, v.pc,
                                              "every vCPU waits for an interrupt (WFI) and no timer is armed"))
                continue
            vcpu = self._last_run = self._pick(ready)
            # A lone vCPU runs unbounded unless there is a budget to keep or interrupts to
            # see in time. Several take turns: by time (preempt.py) while that is safe (see
            # `_time_slices_safe`), else by counted slices, short enough that a slice which
            # ends early can be charged in full. A timer due sooner shortens a counted slice.
            # Unicorn counts exactly, with a hook on every instruction; where no exact count
            # is needed, a C hook counts by blocks instead (blocks.py), far cheaper.
            several = len(ready) > 1
            left, why = budget, "instruction limit reached"
            if self._limit is not None and (left is None or self._limit[0] - self.insns_charged < left):
                left, why = self._limit[0] - self.insns_charged, self._limit[1]
            uncounted = left is None and self.timeslice > 0 and self._time_slices_safe()
            # Only exact stops may come from another thread (Ctrl-C): without them even a lone
            # vCPU runs counted slices, so that the loop sees the request between them.
            bounded = several or left is not None or irq.enabled or not self.exact_async_stops
            count = self.config.quantum if bounded and not uncounted else 0
            due = irq.insns_to_deadline(vcpu.index)
            if due is not None and count:
                count = min(count, due)
            if left is not None:
                if left <= 0:
                    return Stop(StopKind.MAX_INSNS, vcpu.index, vcpu.pc, why)
                count = min(count, left)
                if budget is not None:
                    budget -= count
                self.insns_charged += count
            seconds = None
            if uncounted and several:
                seconds = self.timeslice
            elif count and self.breakpoints and irq.irq_pending(vcpu.index):
                seconds = _SPIN_GUARD  # a counted slice spinning at a breakpoint (irqline.py)
            if seconds is not None:
                self._preempt.arm(vcpu.uc, seconds)
                try:
                    stop = self._slice(vcpu, count)
                finally:
                    self._preempt.disarm()
            else:
                # No exact count needed (no budget, a clock that is not counted, no replay
                # or recording, which set timeslice 0): count by blocks, longer (blocks.py).
                by_blocks = bool(count) and left is None and self.timeslice > 0 \
                    and self._blocks[vcpu.index] is not None
                stop = self._slice(vcpu, blocks.SLICE if by_blocks else count, by_blocks=by_blocks)
            if stop is not None:
                return self._stopped(stop)

    def _time_slices_safe(self) -> bool:
        """Whether a vCPU may be stopped from another thread (time slices). Only if Unicorn
        can make such stops exact (exactstop.py), and only until the guest takes its first
        exception or turns its interrupt controller on: a stop from another thread that
        lands as an exception is being delivered can make Unicorn drop it (the vCPU goes on
        past an SVC as if it were a NOP; seen first as slab corruption in a 4-vCPU Linux).
        Counted slices are never stopped from outside: Unicorn's count ends them, or
        (blocks.py) a hook on their own thread at a block's start; tests/test_block_slices.py
        has vCPUs take SVCs in a loop on those and counts every one delivered."""
        return self.exact_async_stops and not self.exceptions_delivered and not self.irq.enabled

    def _pick(self, ready: list[Vcpu]) -> Vcpu:
        """The next of `ready` (in vCPU order) in round-robin order after the last one picked.
        Only `ready`: a vCPU waiting in WFI or in CPU_SUSPEND must not run before its
        interrupt, or it would wake without one (a power-down suspend would resume at its
        entry point)."""
        vcpu = next((v for v in ready if v.index >= self._next), ready[0])
        self._next = (vcpu.index + 1) % len(self.vcpus)
        return vcpu

    def step(self, index: int, count: int = 1) -> Stop:
        """Execute `count` instructions on vCPU `index` only (the others stay put)."""
        vcpu = self.vcpus[index]
        if vcpu.state is not PowerState.ON:
            raise HcdbgError(f"vCPU {index} is powered off")
        self._interrupt.clear()
        left = count
        while True:  # in slices of at most `quantum`, so that Ctrl-C is seen between them
            n = min(left, max(self.config.quantum, 1))
            stop = self._slice(vcpu, n)
            left -= n
            if stop is not None or left <= 0 or vcpu.state is not PowerState.ON:
                break
            if self._interrupt.is_set():
                stop = Stop(StopKind.INTERRUPT, index, vcpu.pc, "interrupted")
                break
        if stop is None:
            why = "step" if vcpu.state is PowerState.ON else f"vCPU {index} powered off"
            stop = Stop(StopKind.STEP, index, vcpu.pc, why)
        return self._stopped(stop)

    def _stopped(self, stop: Stop) -> Stop:
        """Bookkeeping for every stop returned: reset if asked, remember where we stopped."""
        if stop.kind is StopKind.RESET:
            return self.system_reset(stop)
        self._stopped_at[stop.vcpu] = self.vcpus[stop.vcpu].pc
        return stop

    def system_reset(self, stop: Stop) -> Stop:
        """A guest asked for a system reset: restart it from its image, or (no_reboot) end
        the run the way QEMU's -no-reboot does."""
        if self.config.no_reboot:
            for v in self.vcpus:
                v.state = PowerState.OFF
            return Stop(StopKind.POWER_OFF, stop.vcpu, stop.pc,
                        f"{stop.reason}; no-reboot: the machine stops instead of restarting")
        self.reset()
        return Stop(StopKind.RESET, stop.vcpu, self.vcpus[0].pc, stop.reason)

    # --- checkpoints (machine/checkpoint.py saves and restores through these) ---------------
    def memory_blocks(self) -> tuple[mmap.mmap, ...]:
        """The host buffers behind guest memory: RAM, then the flash banks when mapped."""
        return (self._mmap,) if self._flash is None else (self._mmap, self._flash)

    def ram_view(self) -> tuple[mmap.mmap, int]:
        """Guest RAM (from board.RAM_BASE) and its size: where the trap reads an immediate."""
        return self._mmap, self._ram_size

    def scheduler_state(self) -> tuple[int, int, tuple[int | None, ...], int]:
        """Which vCPU the round robin tries next, which ran last, where each one last
        stopped (a resume at a breakpoint executes it), and the instructions charged."""
        return self._next, self._last_run.index, tuple(self._stopped_at), self.insns_charged

    def set_scheduler_state(self, state: tuple[int, int, tuple[int | None, ...], int]) -> None:
        """Go back to a `scheduler_state()` taken at a stop: nothing is pending then."""
        self._next, last, stopped_at, self.insns_charged = state
        self._last_run = self.vcpus[last]
        self._stopped_at = list(stopped_at)
        self._fault = [None] * len(self.vcpus)
        self._before_store = [None] * len(self.vcpus)
        for p in self._pending:
            p.stop = p.error = None
