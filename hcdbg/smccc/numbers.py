"""Reading a number a user typed: ASCII digits only, and never a huge one.

The one number reader: `hcdbg.values` re-exports `parse_number`, and modules below it
(smccc, machine) read register and rule numbers with `decimal`. Python's own `int()` and
`str.isdigit()` accept other scripts' digits ("٣" is 3 to int(), "²" is a digit to
isdigit() but not to int()) and reject a decimal of more than 4300 digits with a ValueError,
so neither is used on user text directly.
"""
from __future__ import annotations

import string

#: Longer text is not a number hcdbg can use: 64 binary digits with `_` every 4 and a
#: sign and prefix fit in 90 characters.
MAX_NUMBER_CHARS = 100
_DECIMAL = frozenset(string.digits)
_NUMBER = frozenset(string.hexdigits + "_xXoObB")


def decimal(text: str) -> int | None:
    """`text` (no sign, no spaces) as a decimal of ASCII digits, or None."""
    if not text or len(text) > MAX_NUMBER_CHARS or not set(text) <= _DECIMAL:
        return None
    return int(text, 10)


def parse_number(text: str) -> int | None:
    """A decimal, 0x-hex, 0b or 0o number, optionally negative and with _ separators; None
    if `text` is not one (also if it is longer than MAX_NUMBER_CHARS or has non-ASCII
    digits). Leading zeros read as decimal ("010" is 10)."""
    body = text.strip()
    digits = body[1:] if body[:1] in ("+", "-") else body
    if not digits or len(body) > MAX_NUMBER_CHARS or not set(digits) <= _NUMBER:
        return None
    try:
        return int(body, 0)
    except ValueError:
        pass
    # int(.., 0) refuses leading zeros ("010"); read those as decimal.
    value = decimal(digits)
    if value is None:
        return None
    return -value if body[0] == "-" else value
