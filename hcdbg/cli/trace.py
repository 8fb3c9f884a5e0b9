"""`hcdbg trace GUEST`: run to the end without a prompt, one line per call, strace-style."""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable, TextIO

from hcdbg.cli.launch import build_session
from hcdbg.cli.options import TraceOptions
from hcdbg.cli.outcome import Exit, open_output, say
from hcdbg.stop import Stop, StopKind
from hcdbg.render.call_lines import call_text, conduit_text, record_line
from hcdbg.session.runner import interrupt_requested, run_interruptible, sigint_noted
from hcdbg.session.appendfile import AppendFile
from hcdbg.session.record import CallRecord, LineKey, raw_record
from hcdbg.session.session import Session
from hcdbg.smccc import catalog
from hcdbg.smccc.decode import arg_names


def run_to_end(session: Session, max_insns: int | None, say_line: Callable[[str], None] | None) -> Stop:
    """Run until a stop that is not a guest reset (a reset restarts the guest, as QEMU
    does without -no-reboot); `max_insns` bounds the whole run, across resets. A Ctrl-C
    ends it even when it comes as a run ends in a reset (a guest in a reset loop)."""
    machine = session.machine
    with sigint_noted() as asked:  # no KeyboardInterrupt halfway through a line between runs
        while True:
            budget = None if max_insns is None else max(0, max_insns - machine.insns_charged)
            stop = run_interruptible(lambda: session.cont(budget), session.interrupt, asked=asked)
            if stop.kind is not StopKind.RESET:
                return stop
            if say_line is not None:
                say_line(f"[vcpu{stop.vcpu}] --- {stop.reason}: restarting the guest ---")
            if asked.is_set() or interrupt_requested():
                return Stop(StopKind.INTERRUPT, stop.vcpu, stop.pc, "interrupted")


def with_gdb(session: Session, opts: TraceOptions) -> Stop | None:
    """`trace --gdb`: wait at the entry point for gdb, let it drive the run until it
    detaches or goes; the stop the run ended at, or None if the guest may run on to its end
    without gdb."""
    from hcdbg.gdb.server import Connection, Outcome, accept_one, open_listener
    from hcdbg.repl.console import Console
    from hcdbg.repl.debugger import Debugger

    sock, where, warnings = open_listener(opts.gdb or "")
    say(*warnings, f"waiting for gdb on {where}: target remote {where}")
    dbg = Debugger(session, Console(sys.stderr, False), max_insns=opts.max_insns)
    conn = accept_one(sock, interrupt_requested)
    if conn is None:
        return Stop(StopKind.INTERRUPT, 0, session.machine.vcpus[0].pc, "interrupted")
    outcome = Connection(conn, dbg, threading.RLock(), interrupt_requested).serve()
    last = session.last_stop
    if interrupt_requested():
        return Stop(StopKind.INTERRUPT, last.vcpu if last else 0, last.pc if last else 0, "interrupted")
    if outcome is Outcome.KILLED:
        v = session.machine.vcpus[last.vcpu if last else 0]
        return Stop(StopKind.HALTED, v.index, v.pc, "killed by gdb")
    if last is not None and (not last.resumable or (session.pending is not None
                                                     and session.pending.answer is None)):
        return last  # powered off, faulted, or at a forwarded call nobody answered
    say(f"gdb {outcome.value}: the guest runs on")
    return None


def stop_message(stop: Stop, max_insns: int | None) -> str:
    """Why a run that did not power off ended, in one line."""
    limit = f" (--max-insns {max_insns})" if stop.kind is StopKind.MAX_INSNS else ""
    return f"stopped: {stop.reason}{limit} (vCPU {stop.vcpu}, pc {stop.pc:#x})"


def uart_to_stdout(data: bytes) -> None:
    """The guest's UART output, as it comes."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def exit_for(stop: Stop) -> Exit:
    """A run without a prompt that ended at `stop`: INTERRUPTED for Ctrl-C, else STOPPED
    (a caller that is content with the stop says OK itself)."""
    return Exit.INTERRUPTED if stop.kind is StopKind.INTERRUPT else Exit.STOPPED


class TraceLines:
    """Where trace lines go, a line at a time as calls are made. A regular file (-o FILE)
    is written through a shared mapping (session/appendfile.py: no write(2) a line, and a
    kill -9 loses no line); a terminal or a pipe gets each line flushed. Lines of calls the
    trap answered itself (machine/fastcalls.py) come from a cache by answer, vCPU and
    immediate when the function takes no arguments, as such a line is the same every time."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._file: AppendFile | None = None
        if stream is not sys.stderr:
            stream.flush()
            self._file = AppendFile(stream.fileno())
        self._lines: dict[tuple[int, int, int], bytes] = {}
        self._keep: list[LineKey] = []  # what the cache's ids name, kept alive

    def line(self, text: str) -> None:
        if self._file is not None:
            self._file.write(text.encode() + b"\n")
        else:
            print(text, file=self.stream, flush=True)

    def record(self, rec: CallRecord) -> None:
        """A call the session answered (on_record)."""
        self.line(record_line(rec))

    def raw(self, raw: Any, vcpu: int, imm: int, pc: int, how: LineKey) -> None:
        """A call the trap answered itself (on_raw_record)."""
        key = (id(how), vcpu, imm)
        text = self._lines.get(key)
        if text is not None:
            if self._file is not None:
                self._file.write(text)
            else:
                self.stream.write(text.decode())
                self.stream.flush()
            return
        rec = raw_record(raw, vcpu, imm, pc, how)
        line = record_line(rec)
        if catalog.lookup(rec.fid) is not None and not arg_names(rec.fid):
            self._keep.append(how)
            self._lines[key] = line.encode() + b"\n"
        self.line(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def trace(opts: TraceOptions) -> Exit:
    """Run; OK if the guest powered off, STOPPED for any other stop, INTERRUPTED on Ctrl-C."""
    lines = TraceLines(open_output(opts.output, "-o") if opts.output else sys.stderr)
    session = build_session(opts, uart_sink=uart_to_stdout)
    if opts.gdb is None:
        session.keep_recent_calls(0)  # each call is printed as it comes: none is read again
    session.on_record, session.on_raw_record = lines.record, lines.raw
    try:
        stop = with_gdb(session, opts) if opts.gdb is not None else None
        if stop is None:
            stop = run_to_end(session, opts.max_insns, lines.line)
        if stop.kind is StopKind.POWER_OFF:
            lines.line(f"+++ {stop.reason}")
            return Exit.OK
        if stop.kind is StopKind.CALL and stop.trap is not None:
            t = stop.trap
            lines.line(f"[vcpu{t.vcpu}] {conduit_text(t)} {call_text(t)} = ?  <forwarded>")
            msg = (f"stopped: forwarded call {call_text(t)} on vCPU {t.vcpu} has no one to answer it "
                   "(trace has no prompt: use --answer, or run the REPL)")
        else:
            msg = stop_message(stop, opts.max_insns)
        lines.line(f"+++ {msg}")
        if lines.stream is not sys.stderr:
            say(msg)
        return exit_for(stop)
    finally:
        session.stop_recording()  # --record: cut the file at its last line
        lines.close()
