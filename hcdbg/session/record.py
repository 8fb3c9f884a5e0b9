"""What happened to each call: the history a run keeps and the call script it records.

The script format is described in `hcdbg.session.callscript`; this module writes it: a header
line, then one entry per answered call, each flushed as it is written so a crash or a
kill -9 loses at most the call in flight.
"""
from __future__ import annotations

import datetime
import errno
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any, Callable, NamedTuple

from hcdbg.errors import UsageError
from hcdbg.session.appendfile import AppendFile
from hcdbg.session.callscript import FORMAT_VERSION
from hcdbg.smccc import catalog
from hcdbg.smccc.call import Answer, Call
from hcdbg.smccc.decode import arg_mask, arg_names
from hcdbg.smccc.effects import Effect
from hcdbg.smccc.source import AnsweredBy


class CallRecord(NamedTuple):
    """One call and its answer. `source` says who answered (the built-in handler, a denial,
    rule N, the user; or a replayed script). A NamedTuple, not a frozen dataclass: one is
    made per call, and building a tuple is about 1 us cheaper."""

    seq: int
    trap: Call
    source: AnsweredBy
    answer: dict[int, int]
    why: str
    effect: Effect | None = None

    @property
    def fid(self) -> int:
        return self.trap.fid

    def to_line(self, call: int | None = None) -> bytes:
        """One script entry and its newline, numbered `call` (default: the session's sequence
        number); numbers as hex strings, so a reader needs no 64-bit care. Built by hand, not
        with json.dumps: it runs once per call while recording (scripts/bench `record`), so
        everything but the call number, the arguments and the pc comes from a template made
        once per kind of call and answer."""
        t = self.trap
        regs = t.regs
        effect = self.effect
        template, nargs, mask = _template(t.vcpu, t.conduit, t.imm, t.fid, tuple(self.answer.items()),
                                          self.source.by, None if effect is None else effect.name)
        number = self.seq if call is None else call
        if nargs:
            return template % (number, *[regs[n] & mask for n in range(1, nargs + 1)], t.pc)
        return template % (number, t.pc)


#: How calls answered as one was are written (line_key): the parts of their recording
#: entry's template that do not depend on the vCPU or immediate, a cache of templates by
#: those two, who answered and the answer (for other writers: trace's lines).
LineKey = tuple[tuple[object, ...], dict, AnsweredBy, Answer]


def line_key(call: Call, source: AnsweredBy, answer: Answer) -> LineKey:
    """What Recorder.write_raw (and trace) need to write lines for calls answered as `call`
    was, without a CallRecord."""
    effect = answer.effect
    return ((call.conduit, call.fid, tuple(answer.regs.items()), source.by,
             None if effect is None else effect.name), {}, source, answer)


def raw_record(raw: Any, vcpu: int, imm: int, pc: int, how: LineKey) -> CallRecord:
    """The record (numbered 0) of a call the trap answered itself (machine/fastcalls.py
    LineWriter's arguments), for a writer that needs one (trace's lines of calls with
    arguments)."""
    regs = tuple(raw[:18])
    call = Call(regs[0] & 0xFFFF_FFFF, regs, how[0][0], imm, vcpu, pc)  # type: ignore[arg-type]
    source, answer = how[2], how[3]
    return CallRecord(0, call, source, answer.regs, answer.why, answer.effect)


@functools.lru_cache(maxsize=4096)
def _template(vcpu: int, conduit: str, imm: int, fid: int, answer: tuple[tuple[int, int], ...],
              by: str, effect: str | None) -> tuple[bytes, int, int]:
    """The %-template of an entry (call number, arguments, pc to fill in), and the count and
    mask of the argument registers (by register, not by argument name, so an entry stays
    valid when its fid is edited)."""
    fn = catalog.lookup(fid)
    nargs = len(arg_names(fid))
    args = ", ".join(f'"x{n}": "%#x"' for n in range(1, nargs + 1))
    values = ", ".join(f'"x{n}": "{v:#x}"' for n, v in sorted(answer))
    tail = "" if effect is None else f', "effect": {json.dumps(effect)}'
    text = (f'{{"call": %d, "vcpu": {vcpu}, "conduit": "{conduit}", "imm": {imm}, '
            f'"fid": "{fid:#010x}", "name": {json.dumps(fn.name if fn else None)}, '
            f'"args": {{{args}}}, "answer": {{{values}}}, "by": "{by}", '
            f'"pc": "%#x"{tail}}}\n')
    return text.encode(), nargs, arg_mask(fid)


def sha256(path: Path) -> str | None:
    """The file's SHA-256 in hex, or None if it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def header(guest: dict[str, Any], machine: dict[str, Any], firmware: dict[str, Any],
           filter_: dict[str, Any], rules: list[str]) -> dict[str, Any]:
    """The first line of a script: what a replay needs to rebuild the recorded run."""
    return {"hcdbg": FORMAT_VERSION,
            "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "guest": guest, "machine": machine, "firmware": firmware, "filter": filter_,
            "rules": rules}


class Recorder:
    """Writes a call script as the run goes: the header at once, then each answered call,
    flushed (and the OS buffer too on close). An existing file is never overwritten
    unless `overwrite` is set. `offset` is how many calls the session had answered when
    the recording began (the script numbers its calls from 1)."""

    def __init__(self, path: Path, head: dict[str, Any], overwrite: bool = False,
                 offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        if path.is_dir():  # open() would say "file exists" and -f would not help
            raise UsageError(f"{path}: is a directory: a call script is a file (name one in it: "
                             f"{path / 'run.calls'})")
        try:  # read and write: a shared mapping needs both (appendfile.py)
            self._file: IO[str] = path.open("w+" if overwrite else "x+", encoding="utf-8")
        except FileExistsError:
            raise UsageError(f"{path}: file exists, not overwriting it (choose another name, "
                             "or --overwrite / 'record -f')") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot write: {exc.strerror}") from None
        self.calls = 0
        self._fd = self._file.fileno()
        self._out = AppendFile(self._fd)  # entries bypass the text layer and write(2)
        self._append = self._out.write
        self._write((json.dumps(head) + "\n").encode())

    def write(self, record: CallRecord) -> None:
        """Append one entry; it reaches the page cache (a kill -9 keeps it) before the guest
        sees the answer."""
        self.calls += 1
        self._write(record.to_line(self.calls))

    def raw_writer(self) -> Callable[[Any, int, int, int, LineKey], None]:
        """A function that appends the entry of a call the trap answered itself
        (machine/fastcalls.py LineWriter): `raw` its x0..x17 as read, `pc` its address, `how`
        the line_key of its answer; the same line as write() makes for it. A closure that
        copies the line into the file's window itself (AppendFile.write's first step): on
        the fast path one Python call less is 0.1 us of ~0.75 a recorded call."""
        out = self._out

        def write_raw(raw: Any, vcpu: int, imm: int, pc: int, how: LineKey) -> None:
            self.calls = calls = self.calls + 1
            found = how[1].get(vcpu << 16 | imm)
            if found is None:
                conduit, fid, items, by, effect = how[0]
                found = how[1][vcpu << 16 | imm] = _template(vcpu, conduit, imm, fid, items, by, effect)
            template, nargs, mask = found
            if nargs:
                line = template % (calls, *[raw[n] & mask for n in range(1, nargs + 1)], pc)
            else:
                line = template % (calls, pc)
            try:
                out.window.write(line)  # type: ignore[union-attr]
            except (AttributeError, ValueError):  # no window, or the line does not fit it
                self._write(line)
        return write_raw

    def write_uart(self, data: bytes) -> None:
        """Console input typed now: a replay types it once the calls recorded so far are made."""
        self._write((json.dumps({"uart": data.decode("latin-1")}) + "\n").encode())

    def rewind(self, kept: int) -> None:
        """The session went back to a checkpoint where `kept` calls had been answered:
        later entries no longer stand (a replay drops them)."""
        self.calls = min(self.calls, max(0, kept - self.offset))
        self._write((json.dumps({"back": self.calls}) + "\n").encode())

    def _write(self, line: bytes) -> None:
        """A whole line; UsageError if the file cannot take it (a full disk, /proc/self/mem),
        or takes only part of it."""
        try:
            self._out.write(line)
        except OSError as exc:
            raise UsageError(f"{self.path}: cannot write: {exc.strerror}") from None

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._out.close()
                os.fsync(self._fd)
            except OSError as exc:  # a character device (/dev/null) cannot be synced: EINVAL
                if exc.errno != errno.EINVAL:
                    raise UsageError(f"{self.path}: cannot write: {exc.strerror}") from None
            self._file.close()
