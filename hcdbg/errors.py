"""The one error hierarchy: every engine failure a user can cause is an HcdbgError; and
`brief`, which keeps a message that echoes a value on one readable line."""
from __future__ import annotations

import re

#: A word of a message longer than this is a value echoed back (a 50 MB name): cut; so is a
#: message longer than LONG_MESSAGE.
LONG_WORD = 160
LONG_MESSAGE = 1000
_LONG = re.compile(r"\S{%d,}" % (LONG_WORD + 1))


def _cut(text: str, keep: int) -> str:
    return f"{text[:keep]}...{text[-keep // 4:]} ({len(text)} characters)"


def brief(message: str) -> str:
    """`message` with each word over LONG_WORD characters cut in the middle, saying how long
    it was, and the whole cut likewise if it is still over LONG_MESSAGE."""
    text = _LONG.sub(lambda m: _cut(m.group(), LONG_WORD // 2), message)
    return text if len(text) <= LONG_MESSAGE else _cut(text, LONG_MESSAGE // 2)


class HcdbgError(Exception):
    """A failure with a message fit to show a user on one line."""


class UsageError(HcdbgError):
    """The user gave a value hcdbg cannot accept (bad number, unknown name, ...)."""


class LoadError(UsageError):
    """A guest image could not be loaded."""


class FilterError(HcdbgError):
    """A forwarding range was rejected (overlap, empty, overflowing, reserved)."""


class NotAtCall(HcdbgError):
    """Answering needs the session to be stopped at a forwarded call (reply, handle, deny)."""
