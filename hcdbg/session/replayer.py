"""Replaying a call script against a guest: each call is checked against the script's next
entry and answered as the script says; the first call that differs is a divergence.

By default the script is one sequence in the order the calls were made (the scheduler is
deterministic, so a recorded run repeats it). `any_vcpu_order` lets each vCPU follow its
own entries while their interleaving varies; `ignore_args` checks only the function ID,
conduit, immediate and vCPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from hcdbg.session.callscript import Entries, Entry, Script, UartInput
from hcdbg.smccc import catalog
from hcdbg.smccc.call import Call
from hcdbg.smccc.decode import arg_mask, arg_names


T = TypeVar("T")


@dataclass(frozen=True)
class Divergence:
    """The guest's call `trap` is not what the script has next (`entry`; None when the
    script has no entry left for it)."""

    trap: Call
    entry: Entry | None
    differences: tuple[str, ...]

    @property
    def index(self) -> int:
        """The 1-based number of the call in the script that diverged."""
        return self.entry.index if self.entry is not None else 0


def _name(fid: int) -> str:
    fn = catalog.lookup(fid)
    return f"{fid:#010x} ({fn.name})" if fn else f"{fid:#010x}"


def differences(entry: Entry, trap: Call, ignore_args: bool = False) -> tuple[str, ...]:
    """What about `trap` differs from `entry` (empty: it matches)."""
    fid = trap.fid
    out: list[str] = []
    if fid != entry.fid:
        return (f"function ID {_name(fid)}, expected {_name(entry.fid)}",)
    if entry.vcpu is not None and trap.vcpu != entry.vcpu:
        out.append(f"vCPU {trap.vcpu}, expected {entry.vcpu}")
    if entry.conduit is not None and trap.conduit != entry.conduit:
        out.append(f"conduit {trap.conduit.upper()}, expected {entry.conduit.upper()}")
    if entry.imm is not None and trap.imm != entry.imm:
        out.append(f"immediate #{trap.imm}, expected #{entry.imm}")
    if not ignore_args and entry.args:
        mask = arg_mask(fid)
        names = dict(enumerate(arg_names(fid), 1))
        for reg, want in sorted(entry.args.items()):
            have = trap.regs[reg] if reg < len(trap.regs) else 0
            if (have ^ want) & mask:
                label = f"x{reg} ({names[reg]})" if reg in names else f"x{reg}"
                out.append(f"{label} = {have & mask:#x}, expected {want & mask:#x}")
    return tuple(out)


class Replay:
    """The entries of a script not yet matched, and how strictly to match them."""

    def __init__(self, script: Script, *, ignore_args: bool = False,
                 any_vcpu_order: bool = False) -> None:
        self.script = script
        self.ignore_args = ignore_args
        self.any_vcpu_order = any_vcpu_order
        # Entries are matched in order, so what is left is a position in the script plus,
        # with any_vcpu_order, the few entries past it already matched out of order: each
        # call costs O(1), not a removal from the head of a list (a 1M-call replay was
        # quadratic), and a checkpoint keeps two small values, not a copy of the script.
        self._entries = script.entries  # compact (callscript.Entries): an Entry made per read
        self._pos = 0
        self._taken: frozenset[int] = frozenset()
        self._inputs = list(script.inputs)
        self.matched = 0
        #: Calls made before the script begins (its header's from_call - 1): not checked.
        self.skip = int(script.header.get("from_call", 1)) - 1
        self._start = self.save_state()

    def take(self, trap: Call, impossible: Callable[[Entry, Call], str | None] | None = None
             ) -> Entry | Divergence | None:
        """The entry `trap` is (consumed), or the divergence it is; None for a call before
        the script begins (answered as if there were no script). `impossible(entry)`: why
        this run cannot answer the call as the entry did (an effect that cannot happen)."""
        if self.skip:
            self.skip -= 1
            return None
        at = self._next_for(trap.vcpu)
        if at is None:
            which = f" for vCPU {trap.vcpu}" if self.any_vcpu_order and not self.done else ""
            return Divergence(trap, None, (f"the script has no more calls{which}",))
        entry = self._entries[at]
        diff = differences(entry, trap, self.ignore_args)
        if not diff and impossible is not None and (why := impossible(entry, trap)) is not None:
            diff = (why,)
        if diff:
            return Divergence(trap, entry, diff)
        self._consume(at)
        self.matched += 1
        return entry

    @property
    def done(self) -> bool:
        """Whether every entry has been matched."""
        return self._pos >= len(self._entries)

    def _next_for(self, vcpu: int) -> int | None:
        """The index of the entry a call from `vcpu` must match: the script's next, or with
        any_vcpu_order the next one for that vCPU (or for any)."""
        if not self.any_vcpu_order:
            return self._pos if self._pos < len(self._entries) else None
        for at in range(self._pos, len(self._entries)):
            e = self._entries[at]
            if at not in self._taken and (e.vcpu is None or e.vcpu == vcpu):
                return at
        return None

    def _consume(self, at: int) -> None:
        if at != self._pos:
            self._taken = self._taken | {at}
            return
        pos, taken = at + 1, self._taken
        while pos in taken:
            pos += 1
        self._pos = pos
        if taken:
            self._taken = frozenset(i for i in taken if i > pos)

    def fast_matcher(self, expected: dict[int, tuple[int, int | None, bool | None, int | None, T]]
                     ) -> Callable[[Any, bool, int, int], T | None] | None:
        """For the trap's fast path (machine/fastcalls.py): a function (x0..x17 and PC as read,
        SMC?, vCPU, immediate) -> what `expected` holds for the script's next entry, consumed
        as take() would, when `expected` has its template (by callscript.Entries'
        template numbers: fid, vCPU, conduit as SMC?, imm, each None if not checked, then the
        answer) and the call is what it expects; else None and nothing changes (the full
        way decides). Never the last entry, with console input due, before the script
        begins, or with any_vcpu_order. None if the script is not compact Entries."""
        entries = self._entries
        if self.any_vcpu_order or not isinstance(entries, Entries):
            return None
        which, last = entries.template_numbers(), len(entries) - 1

        def match(raw: Any, smc: bool, vcpu: int, imm: int) -> T | None:
            pos = self._pos
            if pos >= last or self.skip:
                return None
            expect = expected.get(which[pos])
            if expect is None:
                return None
            fid, on, conduit, at, answer = expect
            if (raw[0] != fid or (on is not None and on != vcpu)
                    or (conduit is not None and conduit != smc) or (at is not None and at != imm)):
                return None
            inputs = self._inputs
            if inputs and inputs[0].after <= self.matched + 1:
                return None
            self._pos, self.matched = pos + 1, self.matched + 1
            return answer
        return match

    def due_input(self) -> bytes:
        """Console input the script types now: what comes after the calls made so far."""
        due = b"".join(i.data for i in self._inputs if i.after <= self.matched)
        self._inputs = [i for i in self._inputs if i.after > self.matched]
        return due

    def save_state(self) -> tuple[int, frozenset[int], list[UartInput], int, int]:
        """Where the replay is (for a checkpoint): position, entries matched past it, input
        left, matched, skip."""
        return self._pos, self._taken, list(self._inputs), self.matched, self.skip

    def restore_state(self, state: tuple[int, frozenset[int], list[UartInput], int, int]) -> None:
        """Go back to a position `save_state` returned."""
        self._pos, self._taken, inputs, self.matched, self.skip = state
        self._inputs = list(inputs)

    def restart(self) -> None:
        """Back to the script's first entry."""
        self.restore_state(self._start)

    def remaining(self) -> list[Entry]:
        """Entries the guest has not made (yet), in script order."""
        return [self._entries[at] for at in range(self._pos, len(self._entries)) if at not in self._taken]
