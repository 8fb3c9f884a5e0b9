"""Conditional answers: parsing rules and matching calls (args, #N, conduit, dry runs)."""
from __future__ import annotations

import pytest

from hcdbg.errors import UsageError
from hcdbg.handlers.base import Call
from hcdbg.policy.answers import AnswerRule, AnswerRules, parse_answer_rule

M64 = (1 << 64) - 1


def call(fid: int, *args: int, conduit: str = "hvc") -> Call:
    regs = (fid, *args) + (0,) * (17 - len(args))
    return Call(fid=fid, regs=regs, conduit=conduit)  # type: ignore[arg-type]


# --- parsing ------------------------------------------------------------------------------

def test_parse_function_with_arg_condition() -> None:
    rule = parse_answer_rule("PSCI_CPU_ON x1=0x2 -> INTERNAL_FAILURE")
    assert rule.ranges == ((0x8400_0003, 1), (0xC400_0003, 1))
    assert rule.scope == "both"
    assert rule.args == {1: 2}
    assert rule.nth is None
    assert rule.regs == {0: -6 & M64}  # PSCI INTERNAL_FAILURE, reference §2.2
    assert rule.text == "PSCI_CPU_ON x1=0x2 -> INTERNAL_FAILURE"


def test_parse_nth() -> None:
    rule = parse_answer_rule("TRNG_RND64 #3 -> NO_ENTROPY")
    assert rule.ranges == ((0xC400_0053, 1),)
    assert rule.nth == 3
    assert rule.regs == {0: -3 & M64}  # TRNG NO_ENTROPY, reference §3.1


def test_parse_numeric_range_with_named_registers() -> None:
    rule = parse_answer_rule("0x82000000+0x100 smc -> x0=0 x1=5")
    assert rule.ranges == ((0x8200_0000, 0x100),)
    assert rule.scope == "smc"
    assert rule.regs == {0: 0, 1: 5}


def test_parse_service() -> None:
    rule = parse_answer_rule("psci -> NOT_SUPPORTED")
    assert rule.ranges == ((0x8400_0000, 0x20), (0xC400_0000, 0x20), (0x95C1_BA5E, 4))
    assert rule.regs == {0: M64}


def test_positional_values_are_x0_x1_and_on() -> None:
    rule = parse_answer_rule("TRNG_RND64   ->  SUCCESS 0 0 0x1234")
    assert rule.regs == {0: 0, 1: 0, 2: 0, 3: 0x1234}
    assert rule.text == "TRNG_RND64 -> SUCCESS 0 0 0x1234"


def test_names_resolve_in_the_rules_service() -> None:
    assert parse_answer_rule("smccc-arch -> INVALID_PARAMETER").regs == {0: -3 & M64}
    assert parse_answer_rule("PSCI_CPU_ON -> INVALID_PARAMETERS").regs == {0: -2 & M64}
    assert parse_answer_rule("PSCI_CPU_ON -> DENIED").regs == {0: -3 & M64}


def test_function_name_as_argument_value() -> None:
    rule = parse_answer_rule("PSCI_FEATURES x1=PSCI_CPU_ON_64 -> NOT_SUPPORTED")
    assert rule.args == {1: 0xC400_0003}
    with pytest.raises(UsageError, match="ambiguous"):
        parse_answer_rule("PSCI_FEATURES x1=PSCI_CPU_ON -> NOT_SUPPORTED")


@pytest.mark.parametrize("text", [
    "PSCI_CPU_ON INTERNAL_FAILURE",  # no ->
    "PSCI_CPU_ON ->",  # no answer
    "-> 0",  # no range
    "PSCI_CPU_OM -> 0",  # unknown function
    "PSCI_CPU_ON bogus -> 0",  # unknown condition
    "PSCI_CPU_ON #0 -> 0",  # #N counts from 1
    "PSCI_CPU_ON #x -> 0",
    "PSCI_CPU_ON x0=1 -> 0",  # x0 is the function ID, not an argument
    "PSCI_CPU_ON x18=1 -> 0",
    "PSCI_CPU_ON -> x18=1",
    "PSCI_CPU_ON -> 0 x0=1",  # x0 twice
    "PSCI_CPU_ON -> BANANA",
    "0x84000000+0 -> 0",  # empty range
])
def test_parse_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_answer_rule(text)


def test_parse_error_names_the_bad_token() -> None:
    with pytest.raises(UsageError, match="bogus"):
        parse_answer_rule("PSCI_CPU_ON bogus -> 0")


# --- matching -----------------------------------------------------------------------------

def test_match_on_argument() -> None:
    rules = AnswerRules()
    assert rules.add(parse_answer_rule("PSCI_CPU_ON x1=0x2 -> INTERNAL_FAILURE")) == 1
    hit = rules.match(call(0xC400_0003, 2, 0x4008_0000, 0))
    assert hit is not None
    n, answer = hit
    assert n == 1
    assert answer.regs == {0: -6 & M64}
    assert answer.why == "answer rule 1: PSCI_CPU_ON x1=0x2 -> INTERNAL_FAILURE"
    assert rules.match(call(0xC400_0003, 1)) is None
    assert rules.match(call(0x8400_0002, 2)) is None  # CPU_OFF


def test_smc32_arguments_compare_as_32_bits() -> None:
    # DEN0028 §2.6: an SMC32 callee ignores the upper halves of x1..
    rules = AnswerRules()
    rules.add(parse_answer_rule("PSCI_CPU_ON x1=2 -> DENIED"))
    assert rules.match(call(0x8400_0003, 0xFFFF_FFFF_0000_0002)) is not None
    assert rules.match(call(0xC400_0003, 0xFFFF_FFFF_0000_0002)) is None
    assert rules.match(call(0xC400_0003, 2)) is not None


def test_negative_argument_matches_w_register() -> None:
    rules = AnswerRules()
    rules.add(parse_answer_rule("sip x1=-1 -> 7"))
    assert rules.match(call(0x8200_0001, 0xFFFF_FFFF)) is not None
    assert rules.match(call(0xC200_0001, 0xFFFF_FFFF)) is None
    assert rules.match(call(0xC200_0001, M64)) is not None


def test_nth_matching_call_only() -> None:
    rules = AnswerRules()
    rules.add(parse_answer_rule("TRNG_RND64 #3 -> NO_ENTROPY"))
    rnd = call(0xC400_0053, 64)
    assert [rules.match(rnd) is not None for _ in range(5)] == [False, False, True, False, False]
    rules.reset_counts()
    assert [rules.match(rnd) is not None for _ in range(3)] == [False, False, True]


def test_nth_counts_only_matching_calls() -> None:
    rules = AnswerRules()
    rules.add(parse_answer_rule("TRNG_RND64 x1=64 #2 -> NO_ENTROPY"))
    assert rules.match(call(0xC400_0053, 64)) is None
    assert rules.match(call(0xC400_0053, 8)) is None  # other argument: not counted
    assert rules.match(call(0x8400_0050)) is None  # other function: not counted
    assert rules.match(call(0xC400_0053, 64)) is not None
    assert rules.counts() == [2]


def test_dry_run_does_not_count() -> None:
    rules = AnswerRules()
    rules.add(parse_answer_rule("TRNG_RND64 #2 -> NO_ENTROPY"))
    rnd = call(0xC400_0053, 64)
    assert rules.match(rnd) is None
    assert rules.match(rnd, dry_run=True) is not None  # the next call would be the 2nd
    assert rules.match(rnd, dry_run=True) is not None
    assert rules.counts() == [1]
    assert rules.match(rnd) is not None
    assert rules.match(rnd, dry_run=True) is None


def test_scope() -> None:
    rules = AnswerRules()
    rules.add(parse_answer_rule("0x82000000+0x100 smc -> x0=0 x1=5"))
    assert rules.match(call(0x8200_0010, conduit="hvc")) is None
    hit = rules.match(call(0x8200_0010, conduit="smc"))
    assert hit is not None and hit[1].regs == {0: 0, 1: 5}
    assert rules.match(call(0x8200_0100, conduit="smc")) is None  # just past the range


def test_first_rule_wins_but_every_rule_counts() -> None:
    rules = AnswerRules()
    rules.add(parse_answer_rule("TRNG_RND64 x1=64 -> NO_ENTROPY"))
    rules.add(parse_answer_rule("TRNG_RND64 #2 -> INVALID_PARAMETERS"))
    first = rules.match(call(0xC400_0053, 8))
    assert first is None
    second = rules.match(call(0xC400_0053, 64))
    assert second is not None and second[0] == 1
    assert rules.counts() == [1, 2]
    third = rules.match(call(0xC400_0053, 8))
    assert third is None  # rule 2 already had its 2nd call


def test_remove_renumbers() -> None:
    rules = AnswerRules()
    rules.add(parse_answer_rule("PSCI_VERSION -> 0x10003"))
    rules.add(parse_answer_rule("psci -> NOT_SUPPORTED"))
    removed = rules.remove(1)
    assert isinstance(removed, AnswerRule) and removed.regs == {0: 0x10003}
    hit = rules.match(call(0x8400_0000))
    assert hit is not None
    assert hit[0] == 1 and hit[1].why == "answer rule 1: psci -> NOT_SUPPORTED"
    assert len(rules.entries()) == 1
    with pytest.raises(UsageError):
        rules.remove(2)


def test_no_rules_no_answer() -> None:
    assert AnswerRules().match(call(0x8400_0000)) is None
