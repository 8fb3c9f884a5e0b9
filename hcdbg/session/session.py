"""A debugging session: one machine, its firmware, its filter and answer rules, its history.

This is the "bdb" of hcdbg: it runs the guest and returns stop events; it never prints.
The decision for each HVC/SMC (answer rule, then filter: handle/deny/forward) is taken in
the trap hook so answered calls cost no emulation restart.
"""
from __future__ import annotations

import gc
import os
import random
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hcdbg.errors import HcdbgError, NotAtCall
from hcdbg.handlers.registry import Firmware, FirmwareConfig
from hcdbg.machine import native as machine_native
from hcdbg.machine.fastcalls import Chooser, Known, LineWriter, fast_path
from hcdbg.machine.loader import Image
from hcdbg.machine.machine import Machine, MachineConfig
from hcdbg.stop import Stop, StopKind
from hcdbg.machine.vcpu import Vcpu
from hcdbg.policy.answers import AnswerRules
from hcdbg.policy.ranges import Action, Filter
from hcdbg.session.breakpoints import Breakpoint, Breakpoints
from hcdbg.session.history import CallHistory, RecentCalls
from hcdbg.session.record import CallRecord, Recorder, header, sha256
from hcdbg.session.replayer import Divergence, Replay
from hcdbg.session.callscript import Entries, Entry
from hcdbg.smccc import catalog
from hcdbg.smccc.call import Answer, Call
from hcdbg.smccc.effects import Effect
from hcdbg.smccc.source import BUILT_IN, BY_USER, DENIED, AnsweredBy, AnswerSource, by_rule


#: HCDBG_FAST_PATH=0 turns the trap's fast path off (fastcalls.py): every call then goes the
#: full way, as a check that both give the same history, recording and trace.
FAST_PATH = os.environ.get("HCDBG_FAST_PATH", "1") != "0"


def is_call(word: int) -> bool:
    """BL, BLR, or a pointer-authenticated BLRAA/BLRAB/BLRAAZ/BLRABZ (Arm ARM C6.2)."""
    return ((word & 0xFC00_0000) == 0x9400_0000 or (word & 0xFFFF_FC1F) == 0xD63F_0000
            or (word & 0xFEFF_F800) == 0xD63F_0800)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the guest runs: with a long call history
    its passes cost about 2.5 us per call (scripts/bench `calls`), and the hot path makes no
    reference cycles. Anything cyclic made meanwhile is collected after the run."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _forward_calls(session: weakref.ref[Session]) -> Callable[[Vcpu, Call], bool]:
    """The machine's on_call for `session`, without a reference that keeps it alive."""
    def on_call(vcpu: Vcpu, call: Call) -> bool:
        live = session()
        return live is not None and live._on_call(vcpu, call)
    return on_call


def _both(writers: list[LineWriter]) -> LineWriter:
    """A recording and a trace both writing the calls the trap answers itself."""
    def line(raw: Any, vcpu: int, imm: int, pc: int, how: Any) -> None:
        for write in writers:
            write(raw, vcpu, imm, pc, how)
    return line


class NoAnswer(HcdbgError):
    """Resuming a forwarded call that nobody answered."""


@dataclass
class PendingCall:
    """The forwarded call the session is stopped at, and the answer chosen so far."""

    trap: Call
    answer: Answer | None = None
    source: AnsweredBy = BUILT_IN  # who chose `answer` (meaningless while it is None)

    @property
    def title(self) -> str:
        """`PSCI_VERSION on vCPU 0`."""
        fn = catalog.lookup(self.trap.fid)
        name = fn.name if fn else f"call {self.trap.fid:#010x}"
        return f"{name} on vCPU {self.trap.vcpu}"


class Session:
    """Owns a run of one guest: start, continue, step, answer, reset."""

    def __init__(self, image: Image, machine_config: MachineConfig | None = None,
                 firmware_config: FirmwareConfig | None = None, *,
                 uart_sink: Callable[[bytes], None] | None = None,
                 recorder: Recorder | None = None) -> None:
        self.machine = Machine(image, machine_config, uart_sink)
        self.firmware = Firmware(firmware_config or FirmwareConfig())
        self.filter = Filter()
        self.rules = AnswerRules()
        #: Every call answered (the REPL's `calls`, rewind), or only the latest (trace, replay).
        self.history: CallHistory = CallHistory()
        self.recorder = recorder
        #: Called with each record as it is made (trace prints it; the REPL may ignore it).
        self.on_record: Callable[[CallRecord], None] | None = None
        #: on_record's twin for the calls the trap answers itself (fastcalls.py LineWriter,
        #: its last argument a record.LineKey); without it, on_record turns the fast path off.
        self.on_raw_record: LineWriter | None = None
        self.pending: PendingCall | None = None
        self.last_stop: Stop | None = None
        #: The user's breakpoints; a stop at one counts a hit (bdb's `breaks`).
        self.breakpoints = Breakpoints(self.machine)
        #: The breakpoints `last_stop` hit (their hits counted, temporary ones deleted).
        self.hits: tuple[Breakpoint, ...] = ()
        #: A call script whose answers this run gives (None: no replay).
        self.replay: Replay | None = None
        #: The replay the user started last (kept after a divergence; None once stopped).
        self.replay_started: Replay | None = None
        #: Where the replay ended because the guest made another call (stopped at it).
        self.divergence: Divergence | None = None
        #: (instructions, why): how long a replay lets the guest run on after the script's
        #: last call before it stops the run (MAX_INSNS, why); None: as long as it runs.
        self.after_script: tuple[int, str] | None = None
        #: What the session was launched with (guest, machine, firmware), for script headers.
        self.options: dict[str, Any] = {}
        # The machine calls back through a weak reference: a session nobody holds is freed
        # at once, with its history, not at the next full garbage collection.
        self.machine.on_call = _forward_calls(weakref.ref(self))
        #: The answers the trap gives itself in this run, by conduit (_arm_fast_calls).
        self._fast: tuple[dict[int, Known], dict[int, Known]] | None = None
        #: In a replay: by script template, what the trap checks and answers (_replay_chooser).
        self._replay_known: dict[int, tuple[int, int | None, bool | None, int | None, Known]] | None = None

    # --- the hot path ----------------------------------------------------------------------
    def _on_call(self, vcpu: Vcpu, call: Call) -> bool:
        replay = self.replay
        if replay is not None and (taken := replay.take(call, self._impossible)) is not None:
            if isinstance(taken, Divergence):  # stop at the call: the user (or CI) decides
                self.divergence, self.replay = taken, None
                return False
            answer, source = self._scripted(call, taken)
            if self._replay_known is not None and answer.effect is None:
                self._learn_entry(replay, call, taken, answer, source)
            if replay.done:
                self._limit_after_script(vcpu)
            if replay.script.inputs:
                self.machine.uart.feed(replay.due_input())
        else:
            rules = self.rules
            matched = rules.match(call) if len(rules) else None
            if matched is not None:
                answer, source = matched[1], by_rule(matched[0])
            else:
                action = self.filter.action_for(call.fid, call.conduit)
                if action is Action.FORWARD:
                    return False
                if action is Action.DENY:
                    answer, source = self.firmware.deny(call), DENIED
                else:
                    answer, source = self.firmware.answer(call, self.machine), BUILT_IN
                if self._fast is not None and answer.effect is None:
                    self._learn(call, answer, source)
        self._give(vcpu, call, answer, source)
        if answer.effect is not None:
            self.machine.apply(answer.effect, vcpu)
        return True

    def _give(self, vcpu: Vcpu, call: Call, answer: Answer, source: AnsweredBy) -> None:
        """Write an answer into the caller's registers and record it (the one place that
        does, for handled, ruled, replayed and forwarded calls alike; the trap's fast path
        records the calls it answers itself, see _arm_fast_calls)."""
        vcpu.write_call_result(answer.regs)
        history = self.history
        history.add(call, source, answer)
        if self.recorder is None and self.on_record is None:
            return
        rec = CallRecord(len(history), call, source, answer.regs, answer.why, answer.effect)
        if self.recorder is not None:
            self.recorder.write(rec)
        if self.on_record is not None:
            self.on_record(rec)

    def _learn(self, call: Call, answer: Answer, source: AnsweredBy) -> None:
        """A built-in or denied answer that depends only on x0 and the configuration is
        given from now on by the trap itself, for the rest of this run (fastcalls.py). Not
        for an x0 with an upper half (QEMU answers those otherwise), nor an SMC with an
        immediate (KVM answers those otherwise)."""
        if call.regs[0] >> 32 or (call.conduit == "smc" and call.imm):
            return
        if source is BUILT_IN and not self.firmware.constant(call.fid):
            return
        history, fast = self.history, self._fast
        assert fast is not None  # _arm_fast_calls saw to it
        known = history.known(call, source, answer)
        if known is not None:
            fast[call.conduit == "smc"][call.regs[0]] = known
            native = self.machine.native
            if native is not None and native.live:  # the C hook's table too (native.py)
                native.learn(call.conduit == "smc", call.regs[0], answer.regs, known[3])

    def _learn_entry(self, replay: Replay, call: Call, entry: Entry, answer: Answer,
                     source: AnsweredBy) -> None:
        """A script entry answered by a constant built-in answer, checking nothing the trap
        cannot check itself (function ID, vCPU, conduit, immediate; no arguments), is
        matched and answered by the trap from now on, wherever it comes again (_replay_chooser)."""
        entries = replay.script.entries
        if (not isinstance(entries, Entries) or (entry.args and not replay.ignore_args)
                or entry.effect is not None or source != BUILT_IN.replayed()
                or call.regs[0] >> 32 or (call.conduit == "smc" and call.imm)
                or not self.firmware.constant(call.fid)):
            return
        known = self.history.known(call, source, answer)
        if known is not None:
            assert self._replay_known is not None
            conduit = None if entry.conduit is None else entry.conduit == "smc"
            self._replay_known[entries.template_numbers()[entry.index - 1]] = (
                call.fid, entry.vcpu, conduit, entry.imm, known)

    def _replay_chooser(self, replay: Replay) -> Chooser | None:
        """What the trap answers by itself in a replay (Replay.fast_matcher): entries
        _learn_entry saw, by template."""
        simple: dict[int, tuple[int, int | None, bool | None, int | None, Known]] = {}
        choose = replay.fast_matcher(simple)
        self._replay_known = simple if choose is not None else None
        return choose

    def _arm_fast_calls(self) -> None:
        """Before a run: let the trap answer calls it has seen answered by a constant
        (built-in or denied) answer, when nothing else must see each call: no answer rules
        (they come first), no replay, nobody printing calls, and the whole history kept (a
        recording gets its line from the fast path too). The table starts empty each run, so a filter, profile or rule changed
        at the prompt is obeyed from the first call on. A run that writes no lines, keeps the
        whole history and replays nothing lets the native call path (machine/native.py)
        answer from the same table first, into the same history buffers."""
        history, machine = self.history, self.machine
        batches = [v.call_regs.batch for v in machine.vcpus]
        self._replay_known = None
        if machine.native is not None:
            machine.native.disarm()  # armed again below if this run may use it
        if (not FAST_PATH or len(self.rules)
                or (self.on_record is not None and self.on_raw_record is None)
                or any(b is None for b in batches)):
            self._fast = machine.fast_calls = None
            return
        choose = None
        if self.replay is not None:
            choose = self._replay_chooser(self.replay)
            if choose is None:
                self._fast = machine.fast_calls = None
                return
        self._fast = ({}, {})
        writers = [w for w in (self.recorder.raw_writer() if self.recorder is not None else None,
                               self.on_raw_record if self.on_record is not None else None) if w]
        line: LineWriter | None = writers[0] if len(writers) == 1 else None
        if len(writers) > 1:
            line = _both(writers)
        bound = ((history.keep + RecentCalls.SLACK, history.trim)
                 if isinstance(history, RecentCalls) else None)
        machine.fast_calls = fast_path(self._fast, *history.buffers(), batches,  # type: ignore[arg-type]
                                       *machine.ram_view(), line=line, bound=bound, choose=choose)
        if machine.native is not None and line is None and bound is None and choose is None:
            # The C hook answers the same table (filled by _learn) into the same buffers; a
            # recording, trace or replay keeps the Python fast path, which writes lines.
            machine.native.arm(*history.buffers())

    def missing_native(self) -> str | None:
        """Why the native call path is missing when the user did not turn it off (the
        extension was not built or cannot load), or None: the REPL says it once."""
        if self.machine.native is not None or not FAST_PATH or machine_native.ENABLED:
            return None
        why = machine_native.WHY_NOT
        return why if why and not why.startswith("HCDBG_NATIVE") else None

    def call_path(self) -> str:
        """Which path answers the calls the trap answers itself (`info firmware`)."""
        native = self.machine.native
        if not FAST_PATH:
            return "Calls answered: all the full way in Python (HCDBG_FAST_PATH=0)"
        if native is None:
            return ("Calls answered: Python fast path (native path off: "
                    f"{machine_native.WHY_NOT or 'turned off'})")
        regs = "in place" if native.direct else "through libunicorn's register API"
        return ("Calls answered: native path (compiled interrupt hook, registers read and written "
                f"{regs}) for constant answers, {native.answered:,} so far; recording, trace, "
                "replay and answer rules use the Python path (HCDBG_NATIVE=0: Python only)")

    def _scripted(self, call: Call, entry: Entry) -> tuple[Answer, AnsweredBy]:
        """The answer a script entry gives `call`. No answer: the built-in's (or a denial).
        A recorded built-in answer: the built-in runs again (so CPU_ON starts the CPU) if it
        answers the same; if it would answer otherwise (an unseeded TRNG, an edited entry)
        the script's registers are given without the built-in's effect."""
        source = entry.by.kind
        if entry.answer is None:
            if source is AnswerSource.DENY:
                return self.firmware.deny(call), DENIED.replayed()
            return self.firmware.answer(call, self.machine), BUILT_IN.replayed()
        if source is AnswerSource.BUILT_IN:
            firmware = self.firmware
            if firmware.constant(call.fid):  # nothing to advance: no dry run first
                answer = firmware.answer(call, self.machine)
                if answer.regs == entry.answer:
                    return answer, BUILT_IN.replayed()
            elif firmware.answer(call, self.machine, dry_run=True).regs == entry.answer:
                return firmware.answer(call, self.machine), BUILT_IN.replayed()
        return (Answer(dict(entry.answer), None, f"from line {entry.line} of the script"),
                entry.by.replayed())

    def keep_recent_calls(self, keep: int) -> None:
        """Before the guest runs: keep only the last `keep` calls' records (they are counted
        and numbered all the same), for a run that prints or records each call as it comes."""
        assert not self.history, "the history is chosen before the first call"
        self.history = RecentCalls(keep)
        self._fast = self.machine.fast_calls = None
        if self.machine.native is not None:
            self.machine.native.disarm()

    def _impossible(self, entry: Entry, call: Call) -> str | None:
        """Why this run cannot do to the machine what `entry`'s answer did (None: it can, or
        the entry records no effect). A 4-vCPU recording's CPU_ON replayed on one vCPU would
        answer SUCCESS and start nothing, and the guest would wait for that CPU forever."""
        if entry.effect is None:
            return None
        effect = None
        if entry.answer is not None or entry.by.kind is not AnswerSource.DENY:  # as _scripted
            builtin = self.firmware.answer(call, self.machine, dry_run=True)
            if entry.answer is None or (entry.by.kind is AnswerSource.BUILT_IN and builtin.regs == entry.answer):
                effect = builtin.effect
        if effect is not None and effect.name == entry.effect:
            return None
        here = f"its effect {effect.name}" if effect is not None else "no effect"
        return (f"the recorded answer's effect {entry.effect} cannot happen in this run: the "
                f"built-in handler answers with {here} here (not the recorded machine? --smp)")

    def _limit_after_script(self, vcpu: Vcpu | None) -> None:
        """The replay's script is done: the run may go on only so long without a call."""
        if self.after_script is not None:
            self.machine.limit_runs(*self.after_script, caller=vcpu)

    # --- recording and replaying --------------------------------------------------------------
    def start_recording(self, path: Path, overwrite: bool = False) -> Recorder:
        """Record every call answered from now on into a new call script at `path`. If the
        file cannot be made, nothing changes (a recording already running goes on). An
        unseeded TRNG gets a seed, kept in the header, as --record gives one, so a replay
        repeats its answers."""
        rules = [r.text for r in self.rules.entries()]
        ranges = [{"base": f"{r.base:#010x}", "count": r.count, "action": r.action.value,
                   "conduit": r.scope} for r in self.filter.entries()]
        guest = dict(self.options.get("guest", {"path": str(self.machine.image.path)}))
        guest["sha256"] = sha256(Path(guest["path"]))
        firmware = dict(self.options.get("firmware", {}))
        seed = self.firmware.config.seed
        if seed is None:
            seed = random.getrandbits(32)
        firmware["seed"] = seed
        head = header(guest, self.options.get("machine", {}), firmware,
                      {"default": self.filter.default.value, "ranges": ranges}, rules)
        if self.history:  # the script begins mid-run: a replay lets the earlier calls through
            head["from_call"] = len(self.history) + 1
        recorder = Recorder(path, head, overwrite, offset=len(self.history))  # may refuse
        self.stop_recording()
        self.recorder = recorder
        if self.firmware.config.seed is None:
            self.firmware.seed_entropy(seed)
        self.machine.timeslice = 0  # counted slices: a replay sees the same interleaving
        return recorder

    def stop_recording(self) -> Path | None:
        """Close the recording, if any; its path."""
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        rec.close()
        return rec.path

    def start_replay(self, replay: Replay) -> None:
        """Answer the calls from now on from `replay`'s script, checking each."""
        self.replay, self.divergence, self.replay_started = replay, None, replay
        if replay.done:  # no entries (or none left)
            self._limit_after_script(None)
        self.machine.timeslice = 0  # counted slices, as the recording had
        self.machine.uart.feed(replay.due_input())  # typed before the script's first call

    def send_uart(self, data: bytes) -> None:
        """Type `data` into the guest's console (recorded, so a replay types it too)."""
        self.machine.uart.feed(data)
        if self.recorder is not None:
            self.recorder.write_uart(data)

    def stop_replay(self) -> Replay | None:
        """End the replay (running or diverged); the ranges answer calls again."""
        rep = self.replay_started
        self.replay = self.replay_started = self.divergence = None
        return rep

    # --- answering a forwarded call -------------------------------------------------------
    def require_call(self) -> PendingCall:
        """The forwarded call the session is stopped at; NotAtCall (the one message for
        every command that needs a call) if there is none."""
        if self.pending is None:
            last = self.last_stop
            why = f"stopped: {last.reason}" if last is not None else "the guest has not started"
            raise NotAtCall("not stopped at a call: reply, handle and deny answer a forwarded "
                            f"call ({why})")
        return self.pending

    def preview(self) -> Answer:
        """What the built-in handler would answer the pending call, without doing it."""
        p = self.require_call()
        return self.firmware.answer(p.trap, self.machine, dry_run=True)

    def reply(self, regs: dict[int, int]) -> Effect | None:
        """Answer the pending call by hand (registers not named keep their values). Returns
        what the built-in answer would have done to the machine and a reply does not (a
        CPU_ON's target stays off), or None."""
        p = self.require_call()
        p.answer, p.source = Answer(dict(regs), None, "answered by hand"), BY_USER
        return self.firmware.answer(p.trap, self.machine, dry_run=True).effect

    def handle(self) -> Answer:
        """Answer the pending call as the built-in handler would (applied on resume)."""
        p = self.require_call()
        p.answer, p.source = self.preview(), BUILT_IN
        return p.answer

    def deny(self) -> Answer:
        """Answer the pending call NOT_SUPPORTED (as the profile denies)."""
        p = self.require_call()
        p.answer, p.source = self.firmware.deny(p.trap), DENIED
        return p.answer

    def _deliver_pending(self) -> Stop | None:
        """Write the chosen answer of the pending call; return a stop its effect causes."""
        p = self.pending
        if p is None:
            return None
        if p.answer is None:
            raise NoAnswer(f"{p.title} has no answer yet: reply VALUE, handle or deny first")
        vcpu = self.machine.vcpus[p.trap.vcpu]
        answer = p.answer
        if p.source.kind is AnswerSource.BUILT_IN:  # commit: the real call advances state (TRNG...)
            answer = self.firmware.answer(p.trap, self.machine)
        self.pending = None
        self._give(vcpu, p.trap, answer, p.source)
        return self.machine.apply_now(answer.effect, vcpu) if answer.effect is not None else None

    # --- run control -------------------------------------------------------------------------
    def _finish(self, stop: Stop) -> Stop:
        """Every stop a run call returns passes here: the pending call, breakpoint hits."""
        if isinstance(self.history, RecentCalls):
            self.history.trim()  # the fast path appends a few thousand past `keep` at most
        if stop.kind is StopKind.CALL and stop.trap is not None:
            self.pending = PendingCall(stop.trap)
        self.hits = self.breakpoints.hit(stop.pc) if stop.kind is StopKind.BREAKPOINT else ()
        self.last_stop = stop
        return stop

    def cont(self, max_insns: int | None = None) -> Stop:
        """Resume (answering the pending call first) until the next stop event."""
        self._check_resumable()
        stop = self._deliver_pending()
        if stop is None:
            self._arm_fast_calls()
            with _collector_paused():
                stop = self.machine.run(max_insns)
        return self._finish(stop)

    def step(self, vcpu: int, count: int = 1) -> Stop:
        """Execute `count` instructions on one vCPU (answering the pending call first)."""
        self._check_resumable()
        stop = self._deliver_pending()
        if stop is None:
            self._arm_fast_calls()
            with _collector_paused():
                stop = self.machine.step(vcpu, count)
        return self._finish(stop)

    def step_over(self, vcpu: int) -> Stop:
        """gdb's nexti: one instruction on `vcpu`, but a call (BL, BLR, BLRAA...) runs until
        it returns to the next instruction (or something else stops the run first)."""
        machine = self.machine
        pc = machine.vcpus[vcpu].pc
        if not is_call(int.from_bytes(machine.read_memory(pc, 4, vcpu), "little")):
            return self.step(vcpu, 1)
        target = pc + 4
        internal = target not in machine.breakpoints
        if internal:
            machine.add_breakpoint(target)
        try:
            stop = self.step(vcpu, 1)  # into the callee
            if stop.kind is not StopKind.STEP or machine.vcpus[vcpu].pc == target:
                return stop
            stop = self.cont()
            if stop.kind is StopKind.BREAKPOINT and stop.pc == target and internal:
                stop = self._finish(Stop(StopKind.STEP, stop.vcpu, stop.pc, "step over call"))
            return stop
        finally:
            if internal:
                machine.remove_breakpoint(target)

    def _check_resumable(self) -> None:
        last = self.last_stop
        if last is not None and not last.resumable:
            raise HcdbgError(f"the guest cannot continue ({last.reason}); use 'run' to restart it")

    def restart(self) -> None:
        """Start the guest again from its image: fresh RAM, same breakpoints, filter and rules."""
        self.machine.reset()
        self.pending = None
        self.last_stop = None
        self.hits = ()
        self.rules.reset_counts()
        self.machine.limit_runs(None)
        # A new run: its calls are numbered from 1 again (`calls`, checkpoints). A recording
        # goes on: its entries so far stay before this run's.
        if self.recorder is not None:
            self.recorder.offset = -self.recorder.calls
        self.history.clear()

    def interrupt(self) -> None:
        """Stop a run in progress on another thread (Ctrl-C)."""
        self.machine.interrupt()
