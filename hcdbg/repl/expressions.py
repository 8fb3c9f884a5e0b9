"""Values a user types at the prompt: hcdbg.values' numbers and names, plus $registers,
symbols and sums of them."""
from __future__ import annotations

import difflib
import re
from typing import Callable

from hcdbg.errors import UsageError
from hcdbg.smccc.ids import MASK64
from hcdbg.smccc.retcodes import AmbiguousCode, code_value
from hcdbg.values import close_code_names, did_you_mean, function_value, parse_number

_TOKENS = re.compile(r"\s*([+-]|[^\s+-]+)")


def evaluate(text: str, *, register: Callable[[str], int], symbol: Callable[[str], int | None],
             symbols: Callable[[], list[str]] = lambda: [], service: str | None = None) -> int:
    """`text` as a 64-bit value: terms joined by + and -, each a number (42, 0x2a), a
    register ($x0, $pc), a symbol (main), a return-code name (NOT_SUPPORTED, resolved in
    `service` first) or a function name with one ID (PSCI_VERSION). Raises UsageError."""
    body = text.strip()
    if not body:
        raise UsageError("missing value")
    tokens = _TOKENS.findall(body)
    if "".join(tokens) != "".join(body.split()):
        raise UsageError(f"cannot read {text!r} as a value")
    total, sign, expect_term = 0, 1, True
    terms = [tok for tok in tokens if tok not in "+-"]
    for tok in tokens:
        if tok in "+-":
            if not expect_term:
                sign, expect_term = (1 if tok == "+" else -1), True
            elif tok == "-":
                sign = -sign
            continue
        if not expect_term:
            raise UsageError(f"cannot read {text!r} as a value: missing + or - before {tok!r}")
        total += sign * term(tok, register=register, symbol=symbol, symbols=symbols,
                             service=service)
        sign, expect_term = 1, False
    if expect_term:
        raise UsageError(f"cannot read {text!r} as a value: it ends with an operator")
    # A number as typed (-1, -0x8000000000000000) must be a 64-bit value: -0xffffffffffffffff
    # would otherwise become 1. Sums wrap, as gdb's do.
    if len(terms) == 1 and parse_number(terms[0]) is not None and not -(1 << 63) <= total <= MASK64:
        raise UsageError(f"{body!r} does not fit in a 64-bit register (-2**63 to 2**64-1)")
    return total & MASK64


def term(tok: str, *, register: Callable[[str], int], symbol: Callable[[str], int | None],
         symbols: Callable[[], list[str]] = lambda: [], service: str | None = None) -> int:
    """One term of `evaluate`."""
    number = parse_number(tok)
    if number is not None:
        if number > MASK64:
            raise UsageError(f"{tok!r} does not fit in a 64-bit register")
        return number
    if tok.startswith("$"):
        return register(tok[1:])
    address = symbol(tok)
    if address is not None:
        return address
    try:
        code = code_value(tok, service)
    except AmbiguousCode as exc:
        raise UsageError(str(exc)) from None
    if code is not None:
        return code
    fid = function_value(tok)
    if fid is not None:
        return fid
    close = difflib.get_close_matches(tok, symbols(), n=3) or close_code_names(tok)
    raise UsageError(f"no symbol, register, return code or function named {tok!r} "
                     f"(registers take a $: $x0, $pc){did_you_mean(close)}")
