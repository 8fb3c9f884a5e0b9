"""The "pdb" of hcdbg: runs command lines against a Session and reports through one console.

Output goes through `message()` and `error()` only; every command failure is reported in
`onecmd()`, in one place, as `*** message` (plus the usage line for argument errors). The
class knows nothing of prompt_toolkit: questions go through an injected `ask` function
(None in batch mode, where a question is an error).
"""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field, replace
from typing import Callable

from hcdbg.errors import HcdbgError, brief
from hcdbg.stop import Stop, StopKind
from hcdbg.render import context
from hcdbg.render.call_lines import divergence_lines, result_text
from hcdbg.render.style import Fragments
from hcdbg.repl import commands
from hcdbg.repl.console import Console
from hcdbg.repl.examine import Format
from hcdbg.repl.expressions import evaluate
from hcdbg.session import view
from hcdbg.session.checkpoint_stack import Rewind
from hcdbg.session.runner import run_interruptible
from hcdbg.session.session import NoAnswer, Session
from hcdbg.smccc import catalog


class Quit(Exception):
    """`quit` was given (and confirmed): end the REPL."""


@dataclass
class CurrentRun:
    """What the REPL remembers about the current run of the guest (a new one at `run`,
    `reset` and a guest reset; `back` restores the one of its checkpoint)."""

    started: bool = False  # the guest executed at least one instruction
    history_start: int = 0  # session.history index where this run's calls begin
    uart_start: int = 0  # uart.output offset where this run's output begins
    snapshots: dict[int, dict[str, int]] = field(default_factory=dict)

    def copy(self) -> CurrentRun:
        """A copy to keep with a checkpoint (the snapshots change as stops are shown)."""
        return replace(self, snapshots=dict(self.snapshots))


Ask = Callable[[str], bool]


class Debugger:
    """Command dispatch and run control over one Session."""

    def __init__(self, session: Session, console: Console, *, ask: Ask | None = None,
                 debug: bool = False, max_insns: int | None = None) -> None:
        commands.load_all()
        self.session = session
        self.console = console
        self.ask = ask
        self.debug = debug
        self.max_insns = max_insns
        self.focus = 0
        self.current_run = CurrentRun()
        self.last_format = Format()
        self.next_examine: int | None = None
        self.last_repeat: str | None = None
        self.failures = 0  # commands that failed (batch mode exits 1 if any did)
        #: Held while a command runs when another front end (the gdb stub) shares the
        #: session; None: this debugger is the only one.
        self.guard: threading.RLock | None = None
        #: What the other front end is doing with the guest right now, for the toolbar
        #: ("gdb runs the guest"); None: nothing.
        self.elsewhere: str | None = None
        self._snapshot_all()
        self.rewind = Rewind(session)
        self.checkpoint()

    # --- output (the only two ways a command talks to the user) -----------------------
    def message(self, text: str | Fragments, style: str = "") -> None:
        """Print a line of text, or styled fragments."""
        if isinstance(text, str):
            self.console.text(text, style)
        else:
            self.console.write(text)

    def error(self, text: str, usage: str = "") -> None:
        """Print an error: one line starting with ***, and the command's usage under it for
        an argument error."""
        self.console.error(f"*** {brief(text)}", usage)

    # --- dispatch -----------------------------------------------------------------------
    def onecmd(self, line: str) -> bool:
        """Run one command line; False if it failed (the error has been printed).

        An empty line repeats the last repeatable command (gdb: step, continue). Raises
        Quit when the user quits."""
        line = line.strip()
        if not line:
            if self.last_repeat is None:
                return True
            line = self.last_repeat
        if line.startswith("#"):
            return True
        guard = self.guard
        if guard is not None:
            if not guard.acquire(timeout=0.5):
                self.error("gdb is running the guest: stop it in gdb (Ctrl-C) first")
                self.failures += 1
                return False
            try:
                return self._onecmd(line)
            finally:
                guard.release()
        return self._onecmd(line)

    def _onecmd(self, line: str) -> bool:
        cmd = None
        try:
            words = commands.split(line)
            if not words:
                return True
            cmd, rest = commands.resolve(words)
            args = commands.parse(cmd, rest)
            self.last_repeat = line if cmd.repeat else None
            cmd.func(self, args)
            return True
        except Quit:
            raise
        except commands.ArgError as exc:
            self.error(str(exc), cmd.usage if cmd is not None else "")
        except HcdbgError as exc:
            self.error(str(exc))
        except KeyboardInterrupt:
            self.console.flush()
            self.error("Quit")
        except Exception as exc:  # noqa: BLE001 - a bug in a command must not end the REPL
            if self.debug:
                self.console.error(traceback.format_exc().rstrip())
            self.error(f"internal error: {type(exc).__name__}: {exc} "
                       "(run with --debug to see the traceback)")
        self.last_repeat = None
        self.failures += 1
        return False

    def confirm(self, question: str, batch_answer: bool) -> bool:
        """Ask a yes/no question; in batch mode take `batch_answer` (gdb's rule)."""
        if self.ask is None:
            return batch_answer
        return self.ask(question)

    # --- state helpers for commands -------------------------------------------------------
    @property
    def vcpu(self):
        """The focused vCPU."""
        return self.session.machine.vcpus[self.focus]

    @property
    def in_progress(self) -> bool:
        """The guest has run and can still go on (quitting loses a run)."""
        last = self.session.last_stop
        return self.current_run.started and (last is None or last.resumable)

    def register(self, name: str) -> int:
        """A register of the focused vCPU by name (UsageError if unknown)."""
        return self.vcpu.read(name)

    def call_service(self) -> str | None:
        """The service of the call we are stopped at, for return-code names."""
        pending = self.session.pending
        if pending is None:
            return None
        fn = catalog.lookup(pending.trap.fid)
        return fn.service if fn else catalog.service_of(pending.trap.fid)

    def value(self, text: str, service: str | None = None) -> int:
        """A value from user text (numbers, $regs, symbols, code and function names)."""
        symbols = self.session.machine.image.symbols
        return evaluate(text, register=self.register, symbol=symbols.lookup,
                        symbols=lambda: list(symbols.by_name),
                        service=service if service is not None else self.call_service())

    def address(self, text: str) -> int:
        """A code or data address: like `value`, and `*ADDR` as gdb's break takes it."""
        body = text.strip()
        return self.value(body[1:] if body.startswith("*") else body)

    def pending_text(self) -> str:
        """`PSCI_VERSION on vCPU 0` for the call we are stopped at."""
        p = self.session.pending
        return p.title if p is not None else ""

    # --- run control ----------------------------------------------------------------------
    def _ensure_answer(self) -> None:
        """Before resuming: the pending call must have an answer (ask once, never guess).
        In batch mode nobody is asked: the session refuses to resume (NoAnswer)."""
        p = self.session.pending
        if p is None or p.answer is not None or self.ask is None:
            return
        preview = self.session.preview()
        question = (f"{self.pending_text()} has no answer yet. Give it the built-in answer "
                    f"({result_text(p.trap, preview.regs)})? (y or n) ")
        if not self.ask(question):
            raise NoAnswer("not resumed: answer the call first (reply VALUE, handle or deny)")
        self.session.handle()

    def resume(self, action: Callable[[], Stop], title: str | None = None) -> Stop:
        """Run `action` (a Session run call) on a worker thread so Ctrl-C can stop it, then
        show the stop."""
        self._ensure_answer()
        self.current_run.started = True
        self.console.flush()
        stop = run_interruptible(action, self.session.interrupt)
        self.after_stop(stop, title)
        return stop

    def after_stop(self, stop: Stop, title: str | None = None) -> None:
        """Bookkeeping after a stop, then the view."""
        if stop.kind is StopKind.RESET:
            self.current_run = CurrentRun(started=True, history_start=len(self.session.history),
                                          uart_start=len(self.session.machine.uart.output))
        if 0 <= stop.vcpu < len(self.session.machine.vcpus):
            self.focus = stop.vcpu
        div = self.session.divergence
        if div is not None and stop.trap is div.trap:  # the replay ended at this call
            self.console.flush()
            for line in divergence_lines(div, self.session.history):
                self.message(line, "class:error")
            title = title or "replay diverged: this call is yours"
        hits = self.session.hits
        if hits and title is None:
            title = "breakpoint " + ", ".join(str(b.number) for b in hits)
        self.show_context(stop, title)
        self.checkpoint()

    def show_context(self, stop: Stop | None = None, title: str | None = None) -> None:
        """The context view of `stop` (default: the last stop) on the focused vCPU."""
        stop = stop or self.session.last_stop
        if stop is None:
            v = self.vcpu
            stop = Stop(StopKind.STEP, self.focus, v.pc, "not started: the guest is at its "
                        "entry point ('c' runs it)")
            title = title or "ready"
        self.console.flush()
        before = self.current_run.snapshots.get(self.focus)
        self.message(context.context(view.stop_view(self.session, stop, self.focus, before, title)))
        self._snapshot_all()

    def _snapshot_all(self) -> None:
        for v in self.session.machine.vcpus:
            self.current_run.snapshots[v.index] = view.registers(self.session.machine, v.index)

    def restart(self) -> None:
        """Start the guest again from its image (breakpoints, filter and rules stay)."""
        self.session.restart()
        self.current_run = CurrentRun(history_start=len(self.session.history),
                                      uart_start=len(self.session.machine.uart.output))
        self.focus = 0
        self.next_examine = None
        self._snapshot_all()
        self.rewind.clear()
        self.checkpoint()

    def checkpoint(self) -> None:
        """Every stop shown is a checkpoint 'back' returns to (commands/rewind.py), with the
        REPL's own run state."""
        self.rewind.checkpoint((self.current_run.copy(), self.focus))
