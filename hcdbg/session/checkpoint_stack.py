"""Rewind: the stack of checkpoints a session can go back to (the REPL's `back`).

A checkpoint is the whole run as of one stop: the machine (machine/checkpoint.py: memory as
undo deltas, vCPUs, UART, scheduler), the firmware's state (the TRNG stream), how many calls
each answer rule has seen, the replay's position, and the session's own state (the stop, the
forwarded call pending at it, the call history). Settings are not part of it, as in gdb:
ranges, answer rules, breakpoints stay as they are when the guest goes back.

History is linear: going back drops the checkpoints after the one returned to. Only the
REPL takes checkpoints (`hcdbg trace` and replays never pay for them).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from hcdbg.errors import HcdbgError
from hcdbg.machine.checkpoint import Checkpointer, MachineState
from hcdbg.stop import Stop, StopKind
from hcdbg.session.replayer import Divergence, Replay
from hcdbg.session.session import PendingCall, Session

#: Host memory the checkpoints may hold (undo deltas and CPU states) before the oldest are
#: dropped; the latest two are always kept.
DEFAULT_BUDGET = 512 << 20


class NothingToRewind(HcdbgError):
    """`back` with no checkpoint to go back to."""


@dataclass(frozen=True)
class Checkpoint:
    """The session at one stop. `stop` is None for the guest at its entry point; `calls` is
    how many calls had been answered; `extra` is whatever the front end keeps with it."""

    number: int
    stop: Stop | None
    calls: int
    machine: MachineState
    firmware: object
    rules: object
    replay: _ReplayState
    extra: object = None

    @property
    def vcpu(self) -> int:
        return self.stop.vcpu if self.stop is not None else 0

    @property
    def call_pc(self) -> int | None:
        """Where the forwarded call this checkpoint stopped at is (None: not at a call)."""
        s = self.stop
        return s.trap.pc if s is not None and s.kind is StopKind.CALL and s.trap else None


@dataclass(frozen=True)
class _ReplayState:
    """A replay at a checkpoint: the one running (if any), its position, and the last one
    started (to tell, on the way back, whether the user started another since)."""

    running: Replay | None
    position: object
    started: Replay | None
    divergence: Divergence | None


def _save_replay(s: Session) -> _ReplayState:
    position = s.replay.save_state() if s.replay is not None else None
    return _ReplayState(s.replay, position, s.replay_started, s.divergence)


def _load_replay(s: Session, saved: _ReplayState) -> None:
    """Starting or stopping a replay is a setting, like a filter range: going back keeps the
    user's choice and rewinds only the position. A replay started after the checkpoint
    starts over; the one that was running then is where it was (even if it since diverged)."""
    now = s.replay_started
    if now is None:  # stopped by the user since: stays stopped
        s.replay, s.divergence = None, None
    elif now is not saved.started:
        now.restart()
        s.replay, s.divergence = now, None
    else:
        if saved.running is not None:
            saved.running.restore_state(saved.position)  # type: ignore[arg-type]
        s.replay, s.divergence = saved.running, saved.divergence


class Rewind:
    """The checkpoints of one session, oldest first; the last one is where it stopped last."""

    def __init__(self, session: Session, budget: int = DEFAULT_BUDGET) -> None:
        self.session = session
        self.budget = budget
        self._engine = Checkpointer(session.machine)
        self._stack: list[Checkpoint] = []
        self._next = 0
        self._held = 0  # host bytes the stack holds

    @property
    def checkpoints(self) -> tuple[Checkpoint, ...]:
        return tuple(self._stack)

    @property
    def tracks_pages(self) -> bool:
        """False if pagemap is unreadable and every checkpoint compares all of RAM."""
        return self._engine.tracks_pages

    def clear(self) -> None:
        """Forget every checkpoint (the guest was restarted); numbering starts again at 0."""
        self._stack.clear()
        self._next = 0
        self._held = 0

    def checkpoint(self, extra: object = None) -> Checkpoint:
        """Remember the session as it is now, at a stop just shown to the user."""
        s = self.session
        machine = self._engine.capture(first=not self._stack)
        cp = Checkpoint(self._next, s.last_stop, len(s.history), machine,
                        s.firmware.save_state(), s.rules.save_state(), _save_replay(s), extra)
        self._next += 1
        self._stack.append(cp)
        self._held += machine.size
        while self._held > self.budget and len(self._stack) > 2:
            dropped = self._stack.pop(0)
            oldest = self._stack[0]
            self._held -= dropped.machine.size + oldest.machine.size
            self._stack[0] = replace(oldest, machine=oldest.machine.without_undo())
            self._held += self._stack[0].machine.size
        return cp

    def moved(self) -> bool:
        """Whether the guest ran since the latest checkpoint without a stop being shown (a
        run that ended in an error)."""
        top = self._stack[-1] if self._stack else None
        s = self.session
        return top is not None and (s.last_stop is not top.stop or len(s.history) != top.calls)

    def back(self, count: int = 1) -> Checkpoint:
        """Go back `count` checkpoints (1: to the previous stop; if the guest ran on without
        one, 1 returns to the latest) and drop the later ones. Returns the checkpoint."""
        if not self._stack:
            raise NothingToRewind("no checkpoints: the guest has not stopped at the prompt yet")
        top = len(self._stack) - 1
        reachable = top + (1 if self.moved() else 0)  # checkpoints `back` can return to
        target = reachable - count
        if target < 0:
            first = self._stack[0].number
            if not reachable:
                raise NothingToRewind(f"nothing to go back to: checkpoint {first} is the "
                                      "earliest (every stop shown at the prompt adds one)")
            raise NothingToRewind(f"cannot go back {count}: only {reachable} earlier checkpoint"
                                  f"{'' if reachable == 1 else 's'} (from {first}); "
                                  "'checkpoints' lists them")
        cp = self._stack[target]
        self._engine.restore([c.machine for c in reversed(self._stack[target + 1:])], cp.machine)
        for dropped in self._stack[target + 1:]:
            self._held -= dropped.machine.size
        del self._stack[target + 1:]
        self._next = cp.number + 1
        self._restore_session(cp)
        return cp

    def _restore_session(self, cp: Checkpoint) -> None:
        s = self.session
        del s.history[cp.calls:]
        stop = cp.stop
        s.pending = (PendingCall(stop.trap) if stop is not None and stop.kind is StopKind.CALL
                     and stop.trap is not None else None)
        s.last_stop = stop
        s.hits = ()  # breakpoints are settings: their counts stay, going back is no new hit
        s.firmware.restore_state(cp.firmware)
        s.rules.restore_state(cp.rules)  # type: ignore[arg-type]
        _load_replay(s, cp.replay)
        if s.recorder is not None:
            s.recorder.rewind(cp.calls)  # the recording marks the later calls as undone

    @property
    def restored_bytes(self) -> int:
        """Bytes of guest memory the last `back` wrote."""
        return self._engine.restored_bytes
