"""Issue 14: bad values a user types read one way everywhere (ASCII digits only, no huge
numbers) and 64-bit values outside [-2**63, 2**64) are refused, never wrapped."""
from __future__ import annotations

import pytest

from hcdbg.errors import UsageError
from hcdbg.repl.expressions import evaluate
from hcdbg.values import parse_number, register_number
from test_repl_commands import make, run

HUGE = "1" * 5000


@pytest.mark.parametrize("text", ["²", "①", "߀", "٣", "x٣", "1²", "-٣", HUGE, "0x" + "f" * 5000])
def test_parse_number_reads_ascii_digits_only_and_no_huge_numbers(text: str) -> None:
    assert parse_number(text) is None


def test_register_numbers_are_ascii() -> None:
    assert register_number("w٣") is None and register_number("x3") == (3, False)


def _value(text: str) -> int:
    return evaluate(text, register=lambda n: 7, symbol=lambda n: None)


@pytest.mark.parametrize("text", ["-0xffffffffffffffff", "-0x8000000000000001", "0x10000000000000000"])
def test_a_literal_outside_64_bits_is_refused(text: str) -> None:
    with pytest.raises(UsageError):
        _value(text)


def test_64_bit_literals_at_the_edges_are_taken() -> None:
    assert _value("-0x8000000000000000") == 1 << 63
    assert _value("0xffffffffffffffff") == (1 << 64) - 1
    assert _value("-1") == (1 << 64) - 1


@pytest.mark.parametrize("line", [
    "x ²", "b ²", "set $x0 = ²", "explain ²", "filter add ² deny", "answer del ²",
    "calls vcpu ²", "info registers w٣", f"x {HUGE}", f"set $x0 = {HUGE}", f"si {HUGE}",
    "set $x5 = -0xffffffffffffffff", "si 18446744073709551617", "x/99999999999999999999999x 0",
    "filter del ٣", "delete ²",
])
def test_bad_numbers_at_the_prompt_are_one_error_line(line: str) -> None:
    dbg, out = make("hello")
    text = run(dbg, out, line, ok=False)
    assert "internal error" not in text and "Traceback" not in text, text
    assert text.startswith("***"), text


def test_reply_refuses_a_value_below_minus_2_63() -> None:
    dbg, out = make("hello")
    run(dbg, out, "filter add psci forward")
    run(dbg, out, "c")
    text = run(dbg, out, "reply -0x8000000000000001", ok=False)
    assert "64-bit" in text and "internal error" not in text
    run(dbg, out, "reply x٣=1", ok=False)


@pytest.mark.parametrize("option", ["--forward=²", "--forward=0x84000000+٣", "--answer=PSCI_VERSION -> ²",
                                    "--answer=PSCI_VERSION #² -> 1", f"--answer=PSCI_VERSION -> {HUGE}"])
def test_unicode_digits_in_options_are_usage_errors(option: str) -> None:
    from conftest import run_hcdbg
    r = run_hcdbg("trace", "hello", option)
    assert r.returncode == 2 and "internal error" not in r.stderr, r.stderr
