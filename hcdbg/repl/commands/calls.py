"""Answering the call we are stopped at (reply, handle, deny), answer rules, call history."""
from __future__ import annotations

import argparse
import re
from collections import deque
from typing import TYPE_CHECKING, Callable

from hcdbg.errors import UsageError
from hcdbg.handlers.base import Answer
from hcdbg.policy.answers import GRAMMAR, parse_answer_rule
from hcdbg.render.call_lines import record_line, result_text
from hcdbg.render.context import effect_text
from hcdbg.repl.commands import Parser, at_call, command
from hcdbg.session.record import CallRecord
from hcdbg.session.session import PendingCall
from hcdbg.smccc import catalog
from hcdbg.smccc.effects import CpuOn, Effect
from hcdbg.smccc.source import FILTER_WORDS, AnswerSource
from hcdbg.values import decimal, register_list

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger


def _pending(dbg: Debugger) -> PendingCall:
    """The call an `@at_call` command answers (its precondition has checked there is one)."""
    p = dbg.session.pending
    assert p is not None, "declare the command @at_call"
    return p


def _show_answer(dbg: Debugger, p: PendingCall, answer: Answer, source: str) -> None:
    dbg.message([("class:label", f"answer ({source}) for {dbg.pending_text()}: "),
                 ("class:pending", result_text(p.trap, answer.regs)), ("", "\n")])
    if answer.effect is not None:
        dbg.message(f"    {effect_text(answer.effect)}", "class:hint")
    dbg.message("    c or si resumes the guest with it; reply, handle or deny replaces it",
                "class:hint")


p = Parser("reply", "Answer the call we are stopped at by hand.\nVALUE... are x0, x1, ...; "
           "or name them: x0=VALUE x2=VALUE. Registers not given keep their values.\n"
           "A VALUE is a number (0x10000, -1) or a return-code name of the call's service "
           "(SUCCESS, NOT_SUPPORTED, INVALID_PARAMETERS, DENIED, ...). The answer is written "
           "when the guest resumes (c, si); a second reply replaces it.",
           usage="reply VALUE [VALUE...] | reply xN=VALUE [xN=VALUE...]")
p.arg("values", nargs="+", metavar="VALUE", complete="value")


@command(p, category="calls")
@at_call
def do_reply(dbg: Debugger, args: argparse.Namespace) -> None:
    pending = _pending(dbg)
    service = dbg.call_service()
    # The answer grammar of answer rules; each VALUE as `print` reads it ($x1, sums, ...).
    regs = register_list(args.values, lambda text: dbg.value(text, service))
    left_out = dbg.session.reply(regs)
    assert pending.answer is not None
    _show_answer(dbg, pending, pending.answer, "reply")
    if left_out is not None:  # else the guest may wait for what never happens (a CPU's start)
        dbg.message(f"    {_not_done(left_out, 'a reply only writes registers')}", "class:hint")


def _not_done(effect: Effect, how: str) -> str:
    """What a reply or a denial leaves out of the built-in answer, which only `handle` gives."""
    if isinstance(effect, CpuOn):
        return f"vCPU {effect.target} stays off: {how} ('handle' starts it)"
    return f"{how}: the built-in answer {effect.describe()}; 'handle' gives that"


p = Parser("handle", "Answer the call as the built-in handler would.\nThat is the 'built-in "
           "answer' the context shows.")


@command(p, aliases=("h",), category="calls")
@at_call
def do_handle(dbg: Debugger, args: argparse.Namespace) -> None:
    pending = _pending(dbg)
    answer = dbg.session.handle()
    _show_answer(dbg, pending, answer, "handle")
    if answer.why:
        dbg.message(f"    {answer.why}", "class:hint")


p = Parser("deny", "Answer the call NOT_SUPPORTED.\nx0 = -1 (and x1..x3 = 0 with the kvm "
           "profile), as KVM's filter does for a denied call.")


@command(p, category="calls")
@at_call
def do_deny(dbg: Debugger, args: argparse.Namespace) -> None:
    pending = _pending(dbg)
    _show_answer(dbg, pending, dbg.session.deny(), "deny")
    left_out = dbg.session.preview().effect
    if left_out is not None:  # as for a reply: a denied CPU_ON starts nothing
        dbg.message(f"    {_not_done(left_out, 'a denied call changes nothing')}", "class:hint")


Test = Callable[[CallRecord], bool]


def _on_vcpu(n: int) -> Test:
    return lambda r: r.trap.vcpu == n


def _answered_by(source: AnswerSource) -> Test:
    """Answered by `source`, from a replayed script or not."""
    return lambda r: r.source.kind is source


def _in_ids(contains: Callable[[int], bool]) -> Test:
    return lambda r: contains(r.fid)


#: How many calls `calls` shows without a range (the latest; gdb's `show values` shows the
#: last ten): 300k calls once took 16 minutes to print.
SHOWN = 100
_SPAN = re.compile(r"#?([0-9]{1,18})(?:-#?([0-9]{1,18}))?")  # int() refuses 4300+ digits


def _span(word: str) -> tuple[int, int] | None:
    """Call numbers `N` or `N-M` (as `#` numbers them), or None if `word` is not one."""
    m = _SPAN.fullmatch(word)
    if m is None:
        return None
    first, last = int(m[1]), int(m[2] or m[1])
    if last < first:
        raise UsageError(f"bad call numbers {word!r}: {last} is below {first}")
    return first, last


def _call_tests(words: list[str]) -> tuple[list[Test], tuple[int, int] | None, bool]:
    """The `calls` filters as predicates (all must hold), the span of call numbers asked
    for (None: the latest SHOWN), and whether `all` was asked for."""
    tests: list[Test] = []
    span: tuple[int, int] | None = None
    every = False
    while words:
        word = words.pop(0)
        low = word.lower()
        if low in ("vcpu", "cpu"):
            n = decimal(words.pop(0)) if words else None
            if n is None:
                raise UsageError(f"'{word}' needs a vCPU number: calls vcpu 1")
            tests.append(_on_vcpu(n))
        elif low == "all":
            every = True
        elif _span(word) is not None:
            span = _span(word)
        elif low in FILTER_WORDS:
            tests.append(_answered_by(FILTER_WORDS[low]))
        elif low.replace("_", "-") in catalog.SERVICES:
            svc = catalog.SERVICES[low.replace("_", "-")]
            tests.append(_in_ids(svc.contains))
        elif catalog.find(word):
            fids = frozenset(f.fid for f in catalog.find(word))
            tests.append(_in_ids(fids.__contains__))
        else:
            close = catalog.suggest(word)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(f"bad filter {word!r}: expected a service "
                             f"({', '.join(catalog.SERVICES)}), a function name, handle, "
                             f"deny, reply, rule, vcpu N, call numbers N-M or all{hint}")
    if span is not None:
        first, last = span
        tests.append(lambda r: first <= r.seq <= last)
    return tests, span, every


p = Parser("calls", "The calls of this run and their answers.\nOldest first; the latest "
           f"{SHOWN} unless call numbers N-M (as # shows them) or all are given. Filter by "
           "service (psci, trng, ...), function name (PSCI_CPU_ON), who answered (handle, "
           "deny, reply, rule) or vCPU (vcpu 1); several filters must all match.",
           usage="calls [SERVICE|FUNCTION|handle|deny|reply|rule|vcpu N]... [N-M|all]")
p.arg("filters", nargs="*", metavar="FILTER", complete="calls")


@command(p, category="calls")
def do_calls(dbg: Debugger, args: argparse.Namespace) -> None:
    tests, span, every = _call_tests(list(args.filters))
    history = dbg.session.history
    start = dbg.current_run.history_start
    total = len(history) - start
    if span is not None:  # only the records asked for are built (a run can hold millions)
        lo, hi = max(start, span[0] - 1), min(len(history), span[1])
        shown = [r for r in (history[lo:hi] if lo < hi else []) if all(t(r) for t in tests)]
        matched, first_hidden = len(shown), None
    elif not tests:
        keep = total if every else min(total, SHOWN)
        shown = history[len(history) - keep:] if keep else []
        matched, first_hidden = total, start + 1
    else:  # one record at a time; only the latest SHOWN kept
        latest: deque[CallRecord] = deque(maxlen=None if every else SHOWN)
        matched, first_hidden = 0, None
        for i in range(start, len(history)):
            r = history[i]
            if all(t(r) for t in tests):
                matched += 1
                first_hidden = first_hidden or r.seq
                latest.append(r)
        shown = list(latest)
    hidden = matched - len(shown)
    for r in shown:
        dbg.message(f"#{r.seq:<4} {record_line(r)}")
    if not shown:
        dbg.message("No calls yet." if not total else "No call matches.")
    elif tests:
        dbg.message(f"({matched} of {total} calls)", "class:hint")
    if hidden:
        dbg.message(f"({hidden} earlier not shown: 'calls {first_hidden}-{shown[0].seq - 1}' lists "
                    "them, 'calls all' every one)", "class:hint")


p = Parser("answer", "Add a conditional answer rule.\nCalls that match are answered at "
           "once, without stopping (before the ranges are consulted).\n"
           f"RULE: {GRAMMAR}\ne.g. answer PSCI_CPU_ON x1=0x2 -> INTERNAL_FAILURE\n"
           "     answer TRNG_RND64 #2 -> NO_ENTROPY",
           usage="answer RULE | answer list | answer del N")
p.arg("rule", nargs="+", metavar="RULE", complete="rule")


@command(p, category="calls", prefix_default="list")
def do_answer(dbg: Debugger, args: argparse.Namespace) -> None:
    rule = parse_answer_rule(" ".join(args.rule))
    n = dbg.session.rules.add(rule)
    dbg.message(f"answer rule {n}: {rule.text}")


p = Parser("answer list", "List the answer rules with how many calls each has matched.")


@command(p, aliases=("answer ls", "info answers"), category="calls")
def do_answer_list(dbg: Debugger, args: argparse.Namespace) -> None:
    rules = dbg.session.rules
    entries = rules.entries()
    if not entries:
        dbg.message("No answer rules.")
        return
    counts = rules.counts()
    dbg.message("Num  Matched  Rule")
    for n, (rule, count) in enumerate(zip(entries, counts), 1):
        dbg.message(f"{n:<4} {count:<8} {rule.text}")


p = Parser("answer del", "Delete answer rules.\nLater rules move up; without N, all rules go.")
p.arg("numbers", nargs="*", metavar="N")


@command(p, aliases=("answer delete", "answer rm"), category="calls")
def do_answer_del(dbg: Debugger, args: argparse.Namespace) -> None:
    rules = dbg.session.rules
    if not args.numbers:
        count = len(rules.entries())
        rules.clear()
        dbg.message(f"Deleted {count} answer rule(s).")
        return
    numbers = []
    for text in args.numbers:
        n = decimal(text)
        if n is None or not 1 <= n <= len(rules.entries()):
            raise UsageError(f"no answer rule {text} (there are {len(rules.entries())})")
        numbers.append(n)
    for n in sorted(set(numbers), reverse=True):
        gone = rules.remove(n)
        dbg.message(f"Deleted answer rule {n}: {gone.text}")
