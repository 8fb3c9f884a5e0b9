"""hcdbg.values: numbers, return-code and function names, function IDs and xN=VALUE lists,
read one way for the REPL, answer rules, call scripts and options (issue 12.6)."""
from __future__ import annotations

from functools import partial

import pytest

from hcdbg.errors import UsageError
from hcdbg.values import (ARG_REGS, assignment, function_id, function_or_name, number,
                          parse_number, register_list, register_number, register_value)

M64 = (1 << 64) - 1


# --- numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("42", 42), (" 42 ", 42), ("0x2a", 42), ("0X2A", 42), ("0b101", 5), ("0o17", 15),
    ("010", 10),  # leading zeros are decimal, not an error
    ("0x8400_0000", 0x8400_0000), ("-1", -1), ("-0x2", -2), ("+7", 7),
])
def test_parse_number(text: str, value: int) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "x", "0x", "1.5", "0xg", "NOT_SUPPORTED", "1 2", "$x0"])
def test_parse_number_says_none_for_non_numbers(text: str) -> None:
    assert parse_number(text) is None


def test_number_in_range() -> None:
    assert number("3", "count", lo=1) == 3
    assert number("0x10", "count", 1, 4096) == 16
    assert number("0", "vCPU", lo=0) == 0


@pytest.mark.parametrize(("args", "message"), [
    (("0", "count", 1), "bad count '0': expected a positive number"),
    (("x", "count", 1), "bad count 'x': expected a positive number"),
    (("5000", "count", 1, 4096), "bad count '5000': expected a number from 1 to 4096"),
    (("-1", "vCPU", 0), "bad vCPU '-1': expected a number >= 0"),
    (("one", "rule"), "bad rule 'one': expected a number (42, 0x2a, -1)"),
])
def test_number_errors_say_what_is_accepted(args: tuple, message: str) -> None:
    with pytest.raises(UsageError) as info:
        number(*args)
    assert str(info.value) == message


# --- register values ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "service", "value"), [
    ("SUCCESS", None, 0),
    ("NOT_SUPPORTED", None, M64),
    ("INVALID_PARAMETERS", "psci", M64 - 1),
    ("INVALID_PARAMETER", "smccc-arch", M64 - 2),
    # DEN0098 / Linux kvm/trng.c TRNG_INVALID_PARAMETER is -2, SMCCC_RET_INVALID_PARAMETER -3
    # (include/linux/arm-smccc.h): the called service's table decides.
    ("INVALID_PARAMETER", "trng", M64 - 1),
    ("TRNG_INVALID_PARAMETER", None, M64 - 1),
    ("SMCCC_RET_INVALID_PARAMETER", "psci", M64 - 2),
    ("NO_ENTROPY", "trng", M64 - 2),
    ("NO_ENTROPY", None, M64 - 2),
    ("NOT_REQUIRED", None, M64 - 1),
    ("already_on", None, M64 - 3),
    ("INVALID_PARAMS", "psci", M64 - 1),  # Linux/QEMU spelling
    ("PSCI_RET_DENIED", None, M64 - 2),
    ("42", None, 42),
    ("0x2a", None, 42),
    ("-1", None, M64),  # negative: 64-bit two's complement
    ("-0x2", None, M64 - 1),
    ("-0x8000000000000000", None, 1 << 63),
    ("0xFFFF_FFFF_FFFF_FFFF", None, M64),
    ("0x10001", None, 0x10001),
])
def test_register_value(text: str, service: str | None, value: int) -> None:
    assert register_value(text, service) == value


@pytest.mark.parametrize("text", ["banana", "0x1_0000_0000_0000_0000", "-0x8000000000000001", "",
                                  "PSCI_CPU_ON_64"])
def test_register_value_rejects_naming_the_text(text: str) -> None:
    with pytest.raises(UsageError) as info:
        register_value(text)
    assert repr(text) in str(info.value)
    assert "\n" not in str(info.value)


def test_register_value_says_what_is_accepted_and_suggests() -> None:
    with pytest.raises(UsageError, match=r"expected a number \(42, 0x2a, -1\) or a return-code "
                                         r"name .*did you mean ALREADY_ON"):
        register_value("ALREADY_OM")


def test_register_value_with_function_names() -> None:
    assert register_value("PSCI_CPU_ON_64", functions=True) == 0xC400_0003
    assert register_value("NOT_SUPPORTED", functions=True) == M64  # codes first
    with pytest.raises(UsageError, match="ambiguous name 'PSCI_CPU_ON'.*add _32 or _64"):
        register_value("PSCI_CPU_ON", functions=True)
    with pytest.raises(UsageError, match="or a function name"):
        register_value("PSCI_CPU_OM", functions=True)


# --- function IDs and names ---------------------------------------------------------------------

def test_function_id() -> None:
    assert function_id("0x84000000") == 0x8400_0000
    assert function_id("PSCI_VERSION") is None  # a name: not this function's business
    for bad in ("0x1_0000_0000", "-1"):
        with pytest.raises(UsageError, match="function IDs are 32-bit"):
            function_id(bad)


def test_function_or_name() -> None:
    assert function_or_name("0x84000003") == 0x8400_0003
    assert function_or_name(" psci ") == "psci"
    assert function_or_name("CPU_ON") == "CPU_ON"
    with pytest.raises(UsageError, match="unknown function or service 'PSCI_CPU_OM'.*PSCI_CPU_ON"):
        function_or_name("PSCI_CPU_OM")


# --- xN=VALUE lists -------------------------------------------------------------------------

def test_register_number() -> None:
    assert register_number("x3") == (3, False)
    assert register_number("W17") == (17, True)
    assert register_number("$x0") == (0, False)
    assert register_number("q1") is None
    assert register_number("x") is None


def test_assignment() -> None:
    value = partial(register_value, service="psci")
    assert assignment("x2=DENIED", value) == (2, M64 - 2)
    assert assignment("w1=-1", value) == (1, 0xFFFF_FFFF)  # a W write zero-extends
    with pytest.raises(UsageError, match=r"bad register 'x0' in 'x0=1': expected x1..x17"):
        assignment("x0=1", value, ARG_REGS)
    with pytest.raises(UsageError, match="missing value in 'x1='"):
        assignment("x1=", value)


def test_register_list_positional_then_named() -> None:
    value = partial(register_value, service="psci")
    assert register_list(["SUCCESS", "0", "0x1234"], value) == {0: 0, 1: 0, 2: 0x1234}
    assert register_list(["x0=NOT_SUPPORTED", "x3=5"], value) == {0: M64, 3: 5}
    assert register_list(["-1", "x2=7"], value) == {0: M64, 2: 7}


@pytest.mark.parametrize(("words", "message"), [
    (["x18=1"], "bad register 'x18'"),
    (["1", "x0=2"], "x0 given twice"),
    ([str(i) for i in range(19)], "too many values: an answer sets x0..x17 at most"),
    (["BANANA"], "bad value 'BANANA'"),
])
def test_register_list_rejects(words: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        register_list(words, register_value)
