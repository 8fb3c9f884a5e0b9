"""The one error hierarchy: every engine failure a user can cause is an HcdbgError."""
from __future__ import annotations


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
