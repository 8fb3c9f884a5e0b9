"""The call history a session keeps: fixed-size binary records, CallRecord objects on demand.

A `CallRecord` (the call's 18 registers as Python ints, its Call, its answer) costs about
555 bytes a call; a REPL session that ran a guest through a million calls held 564 MB of
them. Here a call is 12 bytes plus, when its registers differ from the previous call's, a
152-byte block: x0..x17 and the PC as the vCPU's register buffer holds them (copied as they
are, no conversion). The 12 bytes: which block, and one 64-bit word with the vCPU,
conduit, immediate and the number of its answer in a table of answers seen (most calls
share a handful: the built-in handlers hand out one Answer object per result). A guest
calling in a loop with the same registers (polling PSCI_VERSION or AFFINITY_INFO) costs 12
bytes a call; one whose registers change every call, 164. The trap's fast path appends
to these buffers itself (machine/fastcalls.py). `CallRecord`s are built only when someone
reads them (`calls`, `back`, a divergence report).
"""
from __future__ import annotations

import struct
from array import array
from typing import Iterator, overload

from hcdbg.machine.fastcalls import Known, tail_word
from hcdbg.machine.callregs import prepare_write
from hcdbg.session.record import CallRecord, line_key
from hcdbg.smccc.call import Answer, Call
from hcdbg.smccc.source import AnsweredBy

#: x0..x17 and the PC as the trap reads them (past the HVC/SMC), little-endian: the layout of
#: the vCPU's register buffer (callregs.py).
REGS = struct.Struct("<19Q")
_CONDUITS = ("hvc", "smc")
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


class CallHistory:
    """Every call a run answered, in order, as a list of CallRecords reads (len, [i], [a:b],
    iteration, del [n:], clear), numbered from 1 (`CallRecord.seq`)."""

    def __init__(self) -> None:
        self._regs = bytearray()  # register blocks, REGS.size bytes each
        self._which = array("I")  # by call: its block
        self._tails = array("Q")  # by call: tail_word
        self._dropped = 0  # calls forgotten from the front (RecentCalls)
        #: (who answered, the Answer) by number; the keys below hold them alive, so an id
        #: stays theirs.
        self._answers: list[tuple[AnsweredBy, Answer]] = []
        self._by_id: dict[tuple[int, int], int] = {}
        self._by_value: dict[tuple[object, ...], int] = {}
        self._keep: list[object] = []  # the packed answers of the fast path (known)

    # --- adding ---------------------------------------------------------------------------
    def answer_number(self, source: AnsweredBy, answer: Answer) -> int:
        """The table number of (source, answer): by identity first (a shared Answer costs a
        dict lookup), else by value (a fresh Answer equal to one seen adds nothing)."""
        key = (id(answer), id(source))
        number = self._by_id.get(key)
        if number is not None:
            return number
        value: tuple[object, ...] | None = (source, tuple(answer.regs.items()), answer.why, answer.effect)
        try:
            number = self._by_value.get(value)  # type: ignore[arg-type]
        except TypeError:  # an effect that cannot be hashed: kept by identity only
            value = None
        if number is None:
            number = len(self._answers)
            self._answers.append((source, answer))
            self._by_id[key] = number
            if value is not None:
                self._by_value[value] = number
        return number

    def add(self, call: Call, source: AnsweredBy, answer: Answer) -> None:
        """Append a call (from its Call: the slow path)."""
        regs = call.regs
        if len(regs) != 18:  # a Call made by hand (tests): x0..x17, zeros after
            regs = (tuple(regs) + (0,) * 18)[:18]
        block = REGS.pack(*[r & _MASK64 for r in regs], (call.pc + 4) & _MASK64)
        if self._regs[-REGS.size:] != block:
            self._regs += block
        self._which.append(len(self._regs) // REGS.size - 1)
        self._tails.append(tail_word(self.answer_number(source, answer), call.conduit == "smc",
                                     call.imm, call.vcpu))

    def buffers(self) -> tuple[bytearray, array, array]:
        """The register blocks, the block of each call and the words, which the trap's fast
        path appends to (fastcalls.py); they stay the same objects for the history's life."""
        return self._regs, self._which, self._tails

    def known(self, call: Call, source: AnsweredBy, answer: Answer) -> Known | None:
        """The answer `call` got as the fast path gives it to calls with the same x0 and
        conduit (None: it cannot, no batch writes here)."""
        write = prepare_write(answer.regs)
        if write is None:
            return None
        self._keep.append(write.keep)
        smc = call.conduit == "smc"
        how = line_key(call, source, answer)
        return (write.ids, write.pointers, write.count,
                tail_word(self.answer_number(source, answer), smc, 0, 0), how)

    # --- reading --------------------------------------------------------------------------
    def record(self, index: int) -> CallRecord:
        """The record of call `index` (0: the first), built from its bytes."""
        at = index - self._dropped
        values = REGS.unpack_from(self._regs, self._which[at] * REGS.size)
        tail = self._tails[at]
        regs = values[:18]
        source, answer = self._answers[tail >> 33]
        call = Call(regs[0] & 0xFFFF_FFFF, regs, _CONDUITS[tail >> 32 & 1], tail >> 16 & 0xFFFF,
                    tail & 0xFFFF, (values[18] - 4) & _MASK64)
        return CallRecord(index + 1, call, source, answer.regs, answer.why, answer.effect)

    def __len__(self) -> int:
        return self._dropped + len(self._tails)

    def __iter__(self) -> Iterator[CallRecord]:
        return (self.record(i) for i in range(self._dropped, len(self)))

    @overload
    def __getitem__(self, index: int) -> CallRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[CallRecord]: ...

    def __getitem__(self, index: int | slice) -> CallRecord | list[CallRecord]:
        """Records by call index (0: the first call); a slice yields the records it still
        holds (a RecentCalls forgets old ones)."""
        count = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(count)
            if step == 1:
                start = max(start, self._dropped)
            return [self.record(i) for i in range(start, stop, step) if i >= self._dropped]
        if index < 0:
            index += count
        if not self._dropped <= index < count:
            raise IndexError("call history index out of range (or forgotten)")
        return self.record(index)

    def __delitem__(self, index: slice) -> None:
        """`del history[n:]`: forget the calls from n on (a rewind to a checkpoint)."""
        if not isinstance(index, slice) or index.step not in (None, 1) or index.stop is not None:
            raise TypeError("only the calls from some point on can be deleted: del history[n:]")
        start = max(index.indices(len(self))[0] - self._dropped, 0)
        del self._regs[(self._which[start - 1] + 1 if start else 0) * REGS.size:]
        del self._which[start:]
        del self._tails[start:]

    def clear(self) -> None:
        """Forget every call (a restart: the next call is number 1 again). The table of
        answers stays: the next run answers with the same ones. In place: a fast path made
        for this history appends to the same buffers."""
        del self._regs[:]
        del self._which[:]
        del self._tails[:]
        self._dropped = 0


class RecentCalls(CallHistory):
    """A call history that counts every call but keeps only the last `keep` or more, for
    runs that print or record each call as it comes (trace, replay): their memory stays
    bounded however long the guest runs. `len` is the number of calls so far and indices
    count from the first call, as in CallHistory; only the kept records can be read."""

    SLACK = 4096  # calls kept beyond `keep` before the oldest are dropped (in one move)

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep

    def trim(self) -> None:
        """Drop all but the last `keep` calls, if more than SLACK beyond them are held (the
        session calls this after each run and from time to time: the trap's fast path
        appends without looking)."""
        extra = len(self._tails) - self.keep
        if extra > 0:
            first = self._which[extra] if self.keep else len(self._regs) // REGS.size
            del self._regs[:first * REGS.size]
            self._which[:] = array("I", (w - first for w in self._which[extra:]))  # in place: the fast path holds it
            del self._tails[:extra]
            self._dropped += extra

    def add(self, call: Call, source: AnsweredBy, answer: Answer) -> None:
        super().add(call, source, answer)
        if len(self._tails) > self.keep + self.SLACK:
            self.trim()
