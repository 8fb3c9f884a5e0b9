"""How a command ends: its exit status (Exit), and say(), the one writer of hcdbg's own
messages to stderr (errors, warnings, a replay's verdict)."""
from __future__ import annotations

import errno
import sys
from enum import IntEnum
from pathlib import Path
from typing import TextIO

from hcdbg.errors import UsageError

#: What a write to a file or stdout fails with when the fault is the output, not hcdbg: a
#: full disk (/dev/full), a quota, a file too large, an I/O error (/proc/self/mem).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})

from hcdbg.errors import brief


class Exit(IntEnum):
    """Exit statuses, the same for every command."""

    OK = 0  # the guest powered off; a replay matched its script; a batch ran without errors
    STOPPED = 1  # any other stop (fault, limit, forwarded call), a replay diverged, a batch command failed
    USAGE = 2  # bad arguments, an unloadable guest, a bad call script
    INTERNAL = 3  # a bug in hcdbg
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)


def open_output(path: Path, what: str) -> TextIO:
    """`path` opened for writing text, for option `what` (-o); UsageError if it cannot be."""
    try:  # a regular file read and write too: hcdbg may map it (session/appendfile.py)
        mode = "w" if path.exists() and not path.is_file() else "w+"
        return path.open(mode, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot write: {exc.strerror}") from None


def say(*lines: str) -> None:
    """Write each line as `hcdbg: line`, indented lines as they are (the details under a
    message); a long value in a line is cut (errors.brief)."""
    text = "".join(f"{brief(line)}\n" if line.startswith(" ") else f"hcdbg: {brief(line)}\n"
                   for line in lines)
    sys.stderr.write(text)
    sys.stderr.flush()
