"""Values a user types, read one way everywhere: numbers, return-code and function names,
function IDs and `xN=VALUE` lists.

Pure (stdlib, smccc, errors) so that the REPL, the answer rules of `policy`, call scripts
and command-line options all share it. Reading is done when a command or rule is given,
never on the trap hot path. What is wrong raises UsageError: one line naming the text and
what is accepted. The tables themselves (return-code names, the catalog) stay in `smccc`,
which only looks names up and never complains about user input.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

from hcdbg.errors import UsageError
from hcdbg.smccc.catalog import SERVICES, find, suggest
from hcdbg.smccc.ids import MASK32, MASK64
from hcdbg.smccc.numbers import decimal, parse_number
from hcdbg.smccc.retcodes import all_names as retcode_names
from hcdbg.smccc.retcodes import AmbiguousCode, code_value

#: Registers an answer may set (x0..x17) and a call passes arguments in (x1..x17):
#: SMCCC 1.2 results and arguments, reference §1.3.
RESULT_REGS = range(0, 18)
ARG_REGS = range(1, 18)

_NUMBER_EXAMPLES = "42, 0x2a, -1"
_CODE_EXAMPLES = "SUCCESS, NOT_SUPPORTED, INVALID_PARAMETERS, DENIED, ..."


def number(text: str, what: str, lo: int | None = None, hi: int | None = None) -> int:
    """`text` as a number in [lo, hi] (either bound may be open), for counts, vCPU and rule
    numbers. Raises UsageError "bad WHAT 'TEXT': expected ..."."""
    value = parse_number(text)
    if value is None or (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo == 1 and hi is None:
            accepted = "a positive number"
        elif lo is not None and hi is not None:
            accepted = f"a number from {lo} to {hi}"
        elif lo is not None:
            accepted = f"a number >= {lo}"
        else:
            accepted = f"a number ({_NUMBER_EXAMPLES})"
        raise UsageError(f"bad {what} {text!r}: expected {accepted}")
    return value


def version(text: str) -> tuple[int, int] | None:
    """"1.1" -> (1, 1): MAJOR.MINOR in ASCII decimal digits; None if `text` is not one."""
    major, _, minor = text.partition(".")
    whole, part = decimal(major), decimal(minor)
    return None if whole is None or part is None else (whole, part)


def function_id(text: str) -> int | None:
    """`text` as a function ID if it is a number, else None (it may be a name). Raises
    UsageError for a number that is not 32-bit: a function ID is W0 (DEN0028 §2.5)."""
    value = parse_number(text)
    if value is not None and not 0 <= value <= MASK32:
        raise UsageError(f"bad function ID {text.strip()!r}: function IDs are 32-bit "
                         "(W0: 0 to 0xffffffff)")
    return value


def function_value(text: str) -> int | None:
    """The ID of the one function named `text` (PSCI_CPU_ON_64), or None if no function
    has that name. Raises UsageError if the name has an SMC32 and an SMC64 ID."""
    functions = find(text)
    if len(functions) > 1:
        raise UsageError(f"ambiguous name {text!r}: " + ", ".join(
            f"{f.name} {f.width} ({f.fid:#x})" for f in functions) + "; add _32 or _64")
    return functions[0].fid if functions else None


def function_or_name(text: str) -> int | str:
    """What `explain` and ranges are given: a function ID (a 32-bit number) as an int, or
    the name of a service (psci) or of functions (CPU_ON) as the stripped text. Raises
    UsageError for anything else, suggesting the nearest names."""
    fid = function_id(text)
    if fid is not None:
        return fid
    body = text.strip()
    if body.lower().replace("_", "-") in SERVICES or find(body):
        return body
    raise UsageError(f"unknown function or service {body!r}: give a function ID "
                     f"(0x84000003), a name (PSCI_CPU_ON) or a service (psci)"
                     f"{did_you_mean(close_names(body))}")


def close_names(text: str) -> list[str]:
    """Up to three function or service names that look like `text`, for "did you mean"."""
    body = text.strip()
    return (suggest(body) + [s for s in SERVICES if s.startswith(body.lower()[:3])])[:3]


def close_code_names(text: str) -> list[str]:
    """Up to three return-code names that look like `text`, for "did you mean"."""
    return difflib.get_close_matches(text.strip().upper(), retcode_names(), n=3)


def did_you_mean(close: list[str]) -> str:
    """"; did you mean A, B?" to end an error message with, or "" without suggestions."""
    return f"; did you mean {', '.join(close)}?" if close else ""


def register_value(text: str, service: str | None = None, *, functions: bool = False) -> int:
    """A register value from user text, as the 64-bit value to write or compare.

    Accepts numbers (42, 0x2a, -1, -0x2), return-code names (SUCCESS, NOT_SUPPORTED,
    INVALID_PARAMETERS, ALREADY_ON, NO_ENTROPY, ...) resolved in `service`'s table first,
    and with `functions` the name of one function (PSCI_CPU_ON_64 -> its ID). Negative
    numbers become their 64-bit two's complement (-1 -> 0xFFFF_FFFF_FFFF_FFFF).
    Raises UsageError naming the text and what is accepted.
    """
    value = parse_number(text)
    if value is None:
        try:
            value = code_value(text, service)
        except AmbiguousCode as exc:
            raise UsageError(f"bad value {text!r}: {exc}") from None
    if value is None and functions:
        value = function_value(text)
    if value is None:
        names = " or a function name (PSCI_CPU_ON_64)" if functions else ""
        raise UsageError(f"bad value {text!r}: expected a number ({_NUMBER_EXAMPLES}) or a "
                         f"return-code name ({_CODE_EXAMPLES}){names}"
                         f"{did_you_mean(close_code_names(text))}")
    if not -(1 << 63) <= value <= MASK64:
        raise UsageError(f"bad value {text!r}: does not fit in a 64-bit register")
    return value & MASK64


def register_number(name: str) -> tuple[int, bool] | None:
    """`x3` -> (3, False), `w3` -> (3, True), `$x3` too; None if `name` is not an x or w
    register name. The number is not range-checked."""
    low = name.strip().lower().removeprefix("$")
    n = decimal(low[1:])
    if low[:1] in ("x", "w") and n is not None:
        return n, low[0] == "w"
    return None


def assignment(word: str, value: Callable[[str], int],
               allowed: range = RESULT_REGS) -> tuple[int, int]:
    """`x2=VALUE` -> (2, value(VALUE)); `w2=VALUE` keeps the low 32 bits (a W register
    write zero-extends, as on A64). Raises UsageError naming the word."""
    name, _, text = word.partition("=")
    reg = register_number(name)
    if reg is None or reg[0] not in allowed:
        first, last = allowed.start, allowed.stop - 1
        raise UsageError(f"bad register {name.strip()!r} in {word!r}: expected "
                         f"x{first}..x{last} (or w{first}..w{last})")
    if not text.strip():
        raise UsageError(f"missing value in {word!r}: expected {name.strip()}=VALUE")
    n, narrow = reg
    v = value(text)
    return n, v & MASK32 if narrow else v


def register_list(words: Iterable[str], value: Callable[[str], int]) -> dict[int, int]:
    """The answer grammar `VALUE [VALUE ...]` and/or `xN=VALUE ...` -> register number ->
    value: positional values are x0, x1, ...; named ones as `assignment` reads them.
    `value` reads one VALUE. Everything is read before anything is used, so a bad word
    changes nothing. Raises UsageError."""
    regs: dict[int, int] = {}
    position = 0
    for word in words:
        if "=" in word:
            n, v = assignment(word, value)
        else:
            n, position = position, position + 1
            if n not in RESULT_REGS:
                raise UsageError(f"too many values: an answer sets x0..x{RESULT_REGS.stop - 1} "
                                 "at most")
            v = value(word)
        if n in regs:
            raise UsageError(f"x{n} given twice")
        regs[n] = v
    return regs


def decode_escapes(text: str) -> bytes:
    """`hello\\n` -> b"hello\\n": C-style escapes for UART input given on a command line."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise UsageError(f"--uart-input/--input: bad escape in {text!r} ({exc.reason})") from None
