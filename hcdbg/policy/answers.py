"""Conditional answers (fault injection): rules that answer chosen calls with chosen registers.

Neither KVM nor QEMU can do this: KVM's filter only forwards or denies whole ranges
(reference §4.2), QEMU answers PSCI itself (reference §5.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from hcdbg.errors import HcdbgError, UsageError
from hcdbg.handlers.base import Answer, Call
from hcdbg.policy.ranges import SCOPES, Scope, parse_range
from hcdbg.smccc.catalog import SERVICES, find, service_of
from hcdbg.smccc.decode import arg_mask
from hcdbg.smccc.ids import MASK32
from hcdbg.values import ARG_REGS, assignment, parse_number, register_list, register_value

GRAMMAR = ("RANGE [hvc|smc|both] [xN=VALUE ...] [#N] -> VALUE [VALUE ...] | "
           "-> xN=VALUE ...")


@dataclass(frozen=True)
class AnswerRule:
    """Answer calls to `ranges` through `scope` whose x<n> equal `args` (32-bit compare for
    SMC32 IDs, DEN0028 §2.6) — every one, or only the `nth` such call — with `regs`."""

    ranges: tuple[tuple[int, int], ...]  # (base, count) pairs
    scope: Scope = "both"
    args: dict[int, int] = field(default_factory=dict)  # register number -> value to match
    nth: int | None = None  # 1-based; None = every matching call
    regs: dict[int, int] = field(default_factory=dict)  # register number -> 64-bit value
    text: str = ""  # the rule as the user wrote it

    def covers(self, call: Call) -> bool:
        """True if the call's ID, conduit and arguments match (the count aside)."""
        fid = call.fid & MASK32
        if self.scope != "both" and self.scope != call.conduit:
            return False
        if not any(base <= fid < base + count for base, count in self.ranges):
            return False
        if self.args:
            mask = arg_mask(fid)
            for n, value in self.args.items():
                have = call.regs[n] if n < len(call.regs) else 0
                if (have ^ value) & mask:
                    return False
        return True


class AnswerRules:
    """The ordered answer rules of a session, with a count of matching calls per rule."""

    def __init__(self) -> None:
        self._rules: list[AnswerRule] = []
        self._counts: list[int] = []

    def add(self, rule: AnswerRule) -> int:
        """Append a rule; returns its number (1-based)."""
        self._rules.append(rule)
        self._counts.append(0)
        return len(self._rules)

    def entries(self) -> list[AnswerRule]:
        """The rules in order; rule n is entries()[n - 1]."""
        return list(self._rules)

    def counts(self) -> list[int]:
        """How many calls each rule has matched so far, in entries() order."""
        return list(self._counts)

    def __len__(self) -> int:
        return len(self._rules)

    def remove(self, n: int) -> AnswerRule:
        """Remove rule `n` (1-based) and return it; later rules move up."""
        if not 1 <= n <= len(self._rules):
            raise UsageError(f"no answer rule {n} (there are {len(self._rules)})")
        self._counts.pop(n - 1)
        return self._rules.pop(n - 1)

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()
        self._counts.clear()

    def reset_counts(self) -> None:
        """Forget how many calls each rule has matched (a #N rule fires again)."""
        self._counts = [0] * len(self._rules)

    def save_state(self) -> tuple[tuple[AnswerRule, int], ...]:
        """Each rule with its count, for a checkpoint (the rules themselves are settings)."""
        return tuple(zip(self._rules, self._counts))

    def restore_state(self, state: tuple[tuple[AnswerRule, int], ...]) -> None:
        """Back to a `save_state()`'s counts. Rules are told apart by identity: one added
        since counts from 0 (every call it saw has been undone); removed ones are gone."""
        saved = {id(rule): count for rule, count in state}
        self._counts = [saved.get(id(rule), 0) for rule in self._rules]

    def match(self, call: Call, dry_run: bool = False) -> tuple[int, Answer] | None:
        """The first rule that answers `call`, as (rule number, answer), or None.

        Every rule whose conditions the call meets counts it, whether or not an earlier
        rule answers, so "#3" means the guest's third such call. With `dry_run` nothing
        is counted and the result says what the call would get."""
        if not self._rules:
            return None
        winner: tuple[int, Answer] | None = None
        for i, rule in enumerate(self._rules):
            if not rule.covers(call):
                continue
            seen = self._counts[i] + 1
            if not dry_run:
                self._counts[i] = seen
            if winner is None and (rule.nth is None or rule.nth == seen):
                why = f"answer rule {i + 1}: {rule.text}"
                winner = (i + 1, Answer(regs=dict(rule.regs), why=why))
            if dry_run and winner is not None:
                break
        return winner


def _service_for(range_text: str, ranges: list[tuple[int, int]]) -> str | None:
    """The service whose return-code names a rule's values use."""
    key = range_text.lower().replace("_", "-")
    if key in SERVICES:
        return key
    functions = find(range_text)
    if functions:
        return functions[0].service
    services = {service_of(base) for base, _ in ranges}
    return services.pop() if len(services) == 1 else None


def parse_answer_rule(text: str) -> AnswerRule:
    """An AnswerRule from `RANGE [hvc|smc|both] [xN=VALUE ...] [#N] -> VALUE [VALUE ...]`
    or `... -> xN=VALUE ...`: positional values are x0, x1, ...; return-code names are
    resolved in the service of the rule's range. Raises UsageError."""
    source = " ".join(text.split())
    left, arrow, right = source.partition("->")
    if not arrow:
        raise UsageError(f"bad answer rule {source!r}: missing '->'; expected {GRAMMAR}")
    conditions = left.split()
    results = right.split()
    if not conditions:
        raise UsageError(f"bad answer rule {source!r}: which calls? expected {GRAMMAR}")
    if not results:
        raise UsageError(f"bad answer rule {source!r}: no answer after '->'; "
                         f"expected {GRAMMAR}")
    range_text = conditions[0]
    try:
        ranges = parse_range(range_text)
    except HcdbgError as exc:
        raise UsageError(f"bad answer rule: {exc}") from None
    for base, count in ranges:
        if count < 1 or base + count > 1 << 32:
            raise UsageError(f"bad answer rule: range {range_text!r} is empty or runs past "
                             "0xffffffff")
    service = _service_for(range_text, ranges)

    scope: Scope = "both"
    args: dict[int, int] = {}
    nth: int | None = None
    for token in conditions[1:]:
        low = token.lower()
        if low in SCOPES:
            scope = next(s for s in SCOPES if s == low)
        elif token.startswith("#"):
            nth = parse_number(token[1:])
            if nth is None or nth < 1:
                raise UsageError(f"bad count {token!r}: expected #N with N >= 1 (#1 is the "
                                 "first matching call)")
        elif "=" in token:
            # A value to match may also name one function (PSCI_FEATURES x1=PSCI_CPU_ON_64).
            n, value = assignment(token, partial(register_value, service=service,
                                                 functions=True), ARG_REGS)
            args[n] = value
        else:
            raise UsageError(f"bad condition {token!r}: expected hvc, smc, both, xN=VALUE "
                             f"or #N; rule syntax: {GRAMMAR}")

    regs = register_list(results, partial(register_value, service=service))
    return AnswerRule(tuple(ranges), scope, args, nth, regs, source)
