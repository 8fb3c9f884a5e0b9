"""An append-only file written through a shared memory map: what a recording writes per call.

A write(2) a call costs about 1 us, as much as answering the call (scripts/bench `record`).
Bytes copied into a MAP_SHARED mapping of the file are in the kernel's page cache at once,
like a write's, so a crash or a kill -9 of hcdbg loses none of them (only the machine going
down would, as with write(2) without fsync). The file is grown a window at a time:
allocated first (posix_fallocate: a full disk is an error here, not a SIGBUS on a later
store) and filled with spaces, so a file cut short by a kill is its lines plus trailing
blanks, which JSON-lines readers (hcdbg's, jq) skip. close() cuts it to what was written.
Anything but a regular file (/dev/null, a pipe, /dev/full) is written with write(2).
"""
from __future__ import annotations

import errno
import mmap
import os
import stat

WINDOW = 4 << 20  # bytes mapped at a time: the resident memory a long recording costs
_PAGE = mmap.ALLOCATIONGRANULARITY
#: Errors that say the file cannot be mapped or allocated at all (/proc/self/mem, a file
#: opened write-only, a file system without fallocate): write(2) it is, then.
_UNMAPPABLE = {errno.EACCES, errno.ENODEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}


class AppendFile:
    """Appends to the open file `fd` from its current end. Raises OSError as write(2) would
    (ENOSPC, EIO), and for a short write of a non-regular file."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        #: The mapped window (None: none yet, or not a mapped file). Its write() appends at
        #: the end (ValueError when the data does not fit): what write() tries first.
        self.window: mmap.mmap | None = None
        self.windowped = stat.S_ISREG(os.fstat(fd).st_mode)
        try:
            self._pos = os.lseek(fd, 0, os.SEEK_END) if self.windowped else 0
        except OSError:  # /proc/self/mem: "regular", but no end to seek to
            self.windowped, self._pos = False, 0
        self._base = self._pos  # the file offset the mapping starts at

    def write(self, data: bytes) -> None:
        """Append `data`; it is in the page cache when this returns."""
        try:
            self.window.write(data)  # type: ignore[union-attr]  # at its position, which it advances
        except (AttributeError, ValueError):  # no window yet, or the data does not fit it
            self._write_past(data)

    def _write_past(self, data: bytes) -> None:
        if not self.windowped:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(0, f"the file took {written} of {len(data)} bytes")
            return
        try:
            self._window(len(data))
        except OSError as exc:
            if self.window is not None or exc.errno not in _UNMAPPABLE:
                raise
            self.windowped = False
            self._write_past(data)
            return
        self.window.write(data)  # type: ignore[union-attr]

    def _end_offset(self) -> int:
        """The file offset after the last byte written."""
        return self._pos if self.window is None else self._base + self.window.tell()

    def _window(self, need: int) -> None:
        """Map the next window of the file, from the page that holds the end on."""
        pos = self._end_offset()
        if self.window is not None:
            self.window.close()
            self.window = None
        self._pos = pos
        base = pos - pos % _PAGE
        size = max(WINDOW, -(-(pos - base + need) // _PAGE) * _PAGE)
        os.posix_fallocate(self._fd, base, size)  # ENOSPC now, not SIGBUS at a store
        window = mmap.mmap(self._fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                           offset=base)
        at = pos - base
        window[at:] = b" " * (size - at)  # blanks, not NULs, after the last line
        window.seek(at)
        self.window, self._base = window, base

    def close(self) -> None:
        """Unmap and cut the file at the last byte written (the file stays open)."""
        pos = self._end_offset()
        if self.window is not None:
            self.window.close()
            self.window = None
        self._pos = pos
        if self.windowped:
            os.ftruncate(self._fd, pos)
