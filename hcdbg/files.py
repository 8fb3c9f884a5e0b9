"""Reading a file the user names (a guest, a boot file, a call script, a command file):
bounded in size, and every failure one line naming the option and the file."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

from hcdbg.errors import LoadError, UsageError

_CHUNK = 1 << 20


def read_file(path: Path, what: str, limit: int, room: str = "", *, regular: bool = True,
              empty: bool = False, error: type[UsageError] = LoadError) -> bytes:
    """The bytes of the file the user named for `what` (guest, "--bios ", ...): at most
    `limit` bytes, which must fit `room`. With `regular` only a regular file (a FIFO,
    /dev/zero or a terminal has no size: guest files must be loadable as a whole); without
    it a pipe is read too (`-x <(...)`) but never past `limit`, and still no device. An empty file is refused
    unless `empty`. Anything else raises `error` naming the option and the file."""
    room = room or f"the {limit >> 20} MiB hcdbg reads it into (the RAM size at least: give more --mem)"
    with _open(path, what, limit, room, regular, error) as f:
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= limit:
                chunk = f.read(min(_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise error(f"{what}{path}: cannot read: {exc.strerror}") from None
        except MemoryError:
            raise error(f"{what}{path}: out of memory reading it") from None
    if size > limit:  # a pipe or device, or a file that grew while being read
        raise error(f"{what}{path}: more bytes than fit {room}")
    if not size and not empty:
        raise error(f"{what}{path}: empty file")
    return b"".join(chunks)


def read_lines(path: Path, what: str, limit: int, room: str, *, regular: bool = True,
               error: type[UsageError] = LoadError) -> Iterator[bytes]:
    """The lines of the file, as read_file checks it (an empty file is fine), one at a
    time: a long file is never held whole (a million-call script is ~220 MB)."""
    with _open(path, what, limit, room, regular, error) as f:
        size = 0
        try:
            for line in f:
                size += len(line)
                if size > limit:
                    raise error(f"{what}{path}: more bytes than fit {room}")
                yield line
        except OSError as exc:
            raise error(f"{what}{path}: cannot read: {exc.strerror}") from None


def _open(path: Path, what: str, limit: int, room: str, regular: bool,
          error: type[UsageError]) -> BinaryIO:
    """The file opened for reading, once it is known to be one hcdbg may read whole."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait when it will be refused.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (os.O_NONBLOCK if regular else 0))
    except FileNotFoundError:
        raise error(f"{what}{path}: no such file") from None
    except OSError as exc:
        raise error(f"{what}{path}: cannot read: {exc.strerror}") from None
    except ValueError:  # a NUL byte (a script header can hold one)
        raise error(f"{what}{path!r}: not a file name (it holds a NUL byte)") from None
    f = os.fdopen(fd, "rb")
    try:
        mode = os.fstat(fd)
        if stat.S_ISDIR(mode.st_mode):
            raise error(f"{what}{path}: is a directory, not a file")
        if not (stat.S_ISREG(mode.st_mode) or stat.S_ISFIFO(mode.st_mode) and not regular):
            pipe = "" if regular else " or pipe"
            raise error(f"{what}{path}: not a regular file{pipe} (a device has no end to read to)")
        if mode.st_size > limit:
            raise error(f"{what}{path}: {mode.st_size} bytes do not fit {room}")
    except BaseException:
        f.close()
        raise
    return f
