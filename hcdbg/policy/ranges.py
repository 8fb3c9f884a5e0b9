"""Forwarding ranges: what to do with each function ID, modelled on KVM_ARM_VM_SMCCC_FILTER."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from hcdbg.errors import FilterError, HcdbgError, UsageError
from hcdbg.smccc.catalog import SERVICES, find
from hcdbg.smccc.decode import hex32
from hcdbg.smccc.ids import MASK32
from hcdbg.values import close_names, did_you_mean, function_id, parse_number


class Action(Enum):
    """What happens to a call (KVM's enum kvm_smccc_filter_action, reference §4.1)."""

    HANDLE = "handle"  # answered by hcdbg's built-in handlers (KVM: in-kernel)
    DENY = "deny"  # answered NOT_SUPPORTED: x0 = -1, x1..x3 = 0
    FORWARD = "forward"  # stop and let the user answer (KVM: exit to userspace)


#: Which conduit a range applies to. KVM's ranges always apply to both (reference §4.2).
Scope = Literal["hvc", "smc", "both"]
SCOPES: tuple[Scope, ...] = ("hvc", "smc", "both")

#: The Arm architecture ranges KVM keeps for itself (EEXIST, reference §4.2), so that a VMM
#: cannot spoof Spectre-mitigation discovery.
RESERVED: tuple[tuple[int, int], ...] = ((0x8000_0000, 0x1_0000), (0xC000_0000, 0x1_0000))

_KVM_ACTION = {
    Action.HANDLE: "KVM_SMCCC_FILTER_HANDLE",
    Action.DENY: "KVM_SMCCC_FILTER_DENY",
    Action.FORWARD: "KVM_SMCCC_FILTER_FWD_TO_USER",
}


def _span(base: int, count: int) -> str:
    return f"{hex32(base)}-{hex32(base + count - 1)}"


@dataclass(frozen=True)
class Range:
    """IDs [base, base + count) get `action` when called through a conduit in `scope`."""

    base: int
    count: int
    action: Action
    scope: Scope = "both"

    @property
    def end(self) -> int:
        """The first ID after the range."""
        return self.base + self.count

    def __str__(self) -> str:
        return _span(self.base, self.count)

    def describe(self) -> str:
        """"0x84000000-0x8400001f (forward, both)"."""
        return f"{self} ({self.action.value}, {self.scope})"

    def contains(self, fid: int) -> bool:
        """True if `fid` is in the range (whatever the conduit)."""
        return self.base <= fid < self.end

    def intersects(self, base: int, count: int) -> bool:
        """True if [base, base + count) shares an ID with the range."""
        return base < self.end and self.base < base + count

    def applies_to(self, conduit: str) -> bool:
        """True if the range applies to calls through `conduit`."""
        return self.scope == "both" or self.scope == conduit


def _scopes_overlap(a: Scope, b: Scope) -> bool:
    return a == "both" or b == "both" or a == b


def _as_action(action: Action | str) -> Action:
    if isinstance(action, Action):
        return action
    try:
        return Action(action.strip().lower())
    except ValueError:
        raise UsageError(f"bad action {action!r}: expected handle, deny or forward") from None


def _as_scope(scope: str) -> Scope:
    scope = scope.strip().lower()
    for s in SCOPES:
        if s == scope:
            return s
    raise UsageError(f"bad conduit {scope!r}: expected hvc, smc or both")


class _Table:
    """One conduit's ranges as parallel tuples, sorted and disjoint, for bisection."""

    __slots__ = ("starts", "ends", "actions")

    def __init__(self, ranges: Sequence[Range]) -> None:
        self.starts = tuple(r.base for r in ranges)
        self.ends = tuple(r.end for r in ranges)
        self.actions = tuple(r.action for r in ranges)


class Filter:
    """The forwarding ranges of a session and the default action for IDs outside them.

    Like KVM (reference §4.2) ranges may not be empty, wrap past 0xffffffff or overlap;
    unlike KVM they can change at any time and may apply to one conduit only (an hvc range
    and an smc range may cover the same IDs; a "both" range conflicts with either).
    With `kvm_strict`, ranges touching the reserved Arm architecture ranges are refused
    as KVM does; it is off by default because a debugger user may want to forward
    SMCCC_VERSION.

    Each range keeps the number it was added with, as gdb's breakpoints do: deleting one
    renumbers nothing, and no number is given twice in a session.
    """

    def __init__(self, default: Action | str = Action.HANDLE, kvm_strict: bool = False) -> None:
        self._default = _as_action(default)
        self.kvm_strict = kvm_strict
        self._ranges: list[Range] = []
        self._numbers: dict[Range, int] = {}  # ranges never overlap, so none is equal to another
        self._next = 1
        self._rebuild()

    # --- queries --------------------------------------------------------------------

    @property
    def default(self) -> Action:
        """The action for IDs no range covers (KVM: always HANDLE)."""
        return self._default

    def entries(self) -> list[Range]:
        """The ranges sorted by base (hvc before smc before both at the same base)."""
        return list(self._ranges)

    def numbered(self) -> list[tuple[int, Range]]:
        """(entry number, range) in entries() order."""
        return [(self._numbers[r], r) for r in self._ranges]

    def number(self, r: Range) -> int:
        """The entry number of a range in the filter."""
        return self._numbers[r]

    @property
    def next_number(self) -> int:
        """The number the next range added gets."""
        return self._next

    def action_for(self, fid: int, conduit: str) -> Action:
        """The action for a call to `fid` through `conduit` ("hvc" or "smc").

        On the trap hot path: a bisection over precomputed tuples, no allocation."""
        table = self._hvc if conduit == "hvc" else self._smc
        fid &= MASK32
        i = bisect_right(table.starts, fid) - 1
        if i >= 0 and fid < table.ends[i]:
            return table.actions[i]
        return self._default

    # --- changes --------------------------------------------------------------------

    def add(self, base: int, count: int, action: Action | str, scope: str = "both") -> Range:
        """Add IDs [base, base + count) with `action` for `scope`; raises FilterError
        for an empty, out-of-range, overflowing, overlapping or (kvm_strict) reserved range."""
        act = _as_action(action)
        where = _as_scope(scope)
        if count <= 0:
            raise FilterError(f"{hex32(base)}+{count:#x}: empty range (count must be at "
                              "least 1; KVM: EINVAL)")
        if not 0 <= base <= MASK32:
            raise FilterError(f"base {base:#x} is not a 32-bit function ID")
        if base + count > 1 << 32:
            raise FilterError(f"{hex32(base)}+{count:#x} runs past 0xffffffff (function IDs "
                              "are 32-bit; KVM: EINVAL)")
        new = Range(base, count, act, where)
        if self.kvm_strict:
            for rbase, rcount in RESERVED:
                if new.intersects(rbase, rcount):
                    raise FilterError(
                        f"{new.describe()} intersects the reserved Arm architecture range "
                        f"{_span(rbase, rcount)} (kvm_strict; KVM: EEXIST)")
        for old in self._ranges:
            if old.intersects(base, count) and _scopes_overlap(old.scope, where):
                raise FilterError(f"{new.describe()} overlaps filter entry "
                                  f"{self._numbers[old]}: {old.describe()}")
        self._ranges.append(new)
        self._numbers[new] = self._next
        self._next += 1
        self._rebuild()
        return new

    def add_all(self, pieces: list[tuple[int, int, str]], action: Action | str) -> list[Range]:
        """Add every (base, count, scope) piece with `action`, numbered in order of base;
        all or none: if one is refused the filter, numbers included, is as it was."""
        saved = list(self._ranges), dict(self._numbers), self._next
        try:
            return [self.add(base, count, action, scope) for base, count, scope in sorted(pieces)]
        except HcdbgError:
            self._ranges, self._numbers, self._next = saved
            self._rebuild()
            raise

    def remove(self, n: int) -> Range:
        """Remove entry number `n` and return it."""
        return self.remove_numbers([n])[0]

    def remove_numbers(self, numbers: list[int]) -> list[Range]:
        """Remove the entries with these numbers, all or none (UsageError naming the first
        that is not an entry); they are returned in entries() order."""
        have = {n: r for r, n in self._numbers.items()}
        for n in numbers:
            if n not in have:
                left = ", ".join(str(k) for k in sorted(have)) or "none"
                raise UsageError(f"no filter entry {n} (entries: {left})")
        wanted = set(numbers)
        gone = [r for r in self._ranges if self._numbers[r] in wanted]
        self._drop(gone)
        return gone

    def _drop(self, gone: list[Range]) -> None:
        dropped = set(gone)
        self._ranges = [r for r in self._ranges if r not in dropped]
        for r in gone:
            del self._numbers[r]
        self._rebuild()

    def uncovered(self, parts: list[tuple[int, int]], conduit: str) -> list[tuple[int, int, str]]:
        """(base, count, scope) pieces of `parts` that no entry decides for `conduit`
        ("hvc", "smc", or "call" for either): what a gdb-style catchpoint may add without
        overlapping anything. For "call", where one conduit is already decided only the
        other's side is returned."""
        spans = sorted((b, b + c) for b, c in parts)
        if conduit != "call":
            return [(s, e - s, conduit) for s, e in self._free(spans, conduit)]
        hvc, smc = self._free(spans, "hvc"), self._free(spans, "smc")
        both = [(max(s1, s2), min(e1, e2)) for s1, e1 in hvc for s2, e2 in smc
                if max(s1, s2) < min(e1, e2)]
        plan = [(s, e - s, "both") for s, e in both]
        plan += [(s, e - s, "hvc") for s, e in _minus(hvc, both)]
        plan += [(s, e - s, "smc") for s, e in _minus(smc, both)]
        return sorted(plan)

    def _free(self, spans: list[tuple[int, int]], conduit: str) -> list[tuple[int, int]]:
        return _minus(spans, sorted((r.base, r.end) for r in self._ranges if r.applies_to(conduit)))

    def remove_range(self, base: int, count: int, scope: str | None = None) -> list[Range]:
        """Remove the entry equal to [base, base + count), or else every entry inside it;
        with `scope`, only entries of that scope. Returns what was removed."""
        want = _as_scope(scope) if scope is not None else None
        candidates = [r for r in self._ranges if want is None or r.scope == want]
        gone = [r for r in candidates if r.base == base and r.count == count]
        if not gone:
            gone = [r for r in candidates if base <= r.base and r.end <= base + count]
        if not gone:
            raise UsageError(f"no filter entry inside {_span(base, max(count, 1))}")
        self._drop(gone)
        return gone

    def set_default(self, action: Action | str) -> None:
        """Set the action for IDs no range covers."""
        self._default = _as_action(action)

    def clear(self) -> None:
        """Remove every range (the default stays; their numbers are not given again)."""
        self._drop(list(self._ranges))

    def _rebuild(self) -> None:
        order = {"hvc": 0, "smc": 1, "both": 2}
        self._ranges.sort(key=lambda r: (r.base, order[r.scope]))
        self._hvc = _Table([r for r in self._ranges if r.applies_to("hvc")])
        self._smc = _Table([r for r in self._ranges if r.applies_to("smc")])

    # --- export ---------------------------------------------------------------------

    def export_kvm(self, answer_rules: int = 0) -> tuple[list[str], list[str]]:
        """The filter as KVM `struct kvm_smccc_filter` initialisers, plus notes on what
        KVM cannot express: per-conduit scope, a non-HANDLE default (exported as the gaps
        between ranges), the reserved Arm architecture ranges, conditional answers
        (`answer_rules` is how many the session has)."""
        lines: list[str] = []
        notes: list[str] = []
        pieces: list[tuple[int, int, Action]] = []
        for n, r in self.numbered():
            if r.scope != "both":
                notes.append(f"entry {n} {r.describe()} not exported: KVM filters apply to "
                             "HVC and SMC alike")
            elif r.action is Action.HANDLE and self._default is Action.HANDLE:
                notes.append(f"entry {n} {r.describe()} left out: HANDLE is KVM's default")
            else:
                pieces.append((r.base, r.end, r.action))
        if self._default is not Action.HANDLE:
            notes.append(f"default {self._default.value} exported as ranges over the gaps: "
                         "KVM's default is always HANDLE")
            covered = sorted((r.base, r.end) for r in self._ranges if r.scope == "both")
            pieces.extend((lo, hi, self._default) for lo, hi in _gaps(covered))
        clipped = False
        for lo, hi, action in sorted(pieces, key=lambda p: p[0]):
            if action is Action.HANDLE:
                continue  # with a non-HANDLE default, a HANDLE range is simply not listed
            for plo, phi in _minus_reserved(lo, hi):
                lines.append(f"{{ .base = {hex32(plo)}, .nr_functions = {phi - plo:#x}, "
                             f".action = {_KVM_ACTION[action]} }}")
            clipped = clipped or _touches_reserved(lo, hi)
        if clipped:
            notes.append("parts inside 0x80000000-0x8000ffff / 0xc0000000-0xc000ffff left "
                         "out: KVM reserves them (EEXIST) and always handles them itself")
        if not self.kvm_strict:
            notes.append("kvm_strict is off: ranges were not checked against KVM's reserved "
                         "Arm architecture ranges")
        if answer_rules:
            notes.append(f"{answer_rules} conditional answer rule(s) have no KVM equivalent: "
                         "forward those IDs and answer them in the VMM")
        notes.append("KVM accepts filter changes only before any vCPU has run (EBUSY)")
        return lines, notes


def _gaps(covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [0, 2**32) outside the sorted, disjoint spans `covered`."""
    gaps = []
    at = 0
    for lo, hi in covered:
        if lo > at:
            gaps.append((at, lo))
        at = max(at, hi)
    if at < 1 << 32:
        gaps.append((at, 1 << 32))
    return gaps


def _touches_reserved(lo: int, hi: int) -> bool:
    return any(lo < rb + rc and rb < hi for rb, rc in RESERVED)


def _minus_reserved(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi) without the reserved ranges."""
    parts = [(lo, hi)]
    for rb, rc in RESERVED:
        re = rb + rc
        nxt = []
        for a, b in parts:
            if b <= rb or re <= a:
                nxt.append((a, b))
                continue
            if a < rb:
                nxt.append((a, rb))
            if re < b:
                nxt.append((re, b))
        parts = nxt
    return parts


def parse_range(text: str) -> list[tuple[int, int]]:
    """(base, count) pairs from user text: `0x84000000+0x20` (base+count),
    `0xC4000000-0xC400001F` (inclusive), one ID, a service name (psci, trng, smccc-arch,
    vendor-hyp, sip, ...) or a function name (PSCI_CPU_ON: both its IDs, one pair each).
    Counts are not validated here: Filter.add gives KVM's errors."""
    body = text.strip()
    for sep in ("+", "-"):
        left, found, right = body.partition(sep)
        if found and left:
            a = function_id(left)
            b = parse_number(right) if sep == "+" else function_id(right)
            if a is not None and b is not None:
                if sep == "+":
                    if b < 0:
                        raise UsageError(f"bad range {text!r}: negative count")
                    return [(a, b)]
                if b < a:
                    raise UsageError(f"bad range {text!r}: last ID is below the first")
                return [(a, b - a + 1)]
    number = function_id(body)
    if number is not None:
        return [(number, 1)]
    service = SERVICES.get(body.lower().replace("_", "-"))
    if service is not None:
        return list(service.ranges)
    functions = find(body)
    if functions:
        distinct = sorted({f.name for f in functions})
        if len(distinct) > 1:
            raise UsageError(f"ambiguous name {text!r}: {', '.join(distinct)}")
        return [(f.fid, 1) for f in functions]
    raise UsageError(
        f"bad range {text!r}: expected BASE+COUNT (0x84000000+0x20), FIRST-LAST "
        f"(0xc4000000-0xc400001f), a function ID, a service ({', '.join(SERVICES)}) or a "
        f"function name (PSCI_CPU_ON){did_you_mean(close_names(body))}")


def _minus(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) intervals `a` without those of `b` (b sorted)."""
    out: list[tuple[int, int]] = []
    for start, end in a:
        for lo, hi in b:
            if hi <= start or lo >= end:
                continue
            if lo > start:
                out.append((start, lo))
            start = max(start, hi)
        if start < end:
            out.append((start, end))
    return out
