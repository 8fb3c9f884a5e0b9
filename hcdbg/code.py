"""Guest code as bytes: instruction words read through a reader, stopping at unmapped memory.

Pure (no Unicorn, no capstone): the session reads the code a stop shows with it, and
`render/disasm.py` decodes what it reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hcdbg.errors import HcdbgError

#: Reads `size` bytes at an address, raising HcdbgError where nothing is mapped.
Reader = Callable[[int, int], bytes]


@dataclass(frozen=True)
class CodeBytes:
    """Instruction words read from guest memory, the first at `address` (A64: 4 bytes each)."""

    address: int
    data: bytes


def read_words(read: Reader, address: int, count: int) -> CodeBytes:
    """Up to `count` 4-byte words from `address`, stopping early at unmapped memory.

    Raises the reader's error only if not even the first word can be read."""
    words: list[bytes] = []
    for i in range(count):
        try:
            words.append(read(address + 4 * i, 4))
        except HcdbgError:
            if not words:
                raise
            break
    return CodeBytes(address, b"".join(words))


def read_window(read: Reader, pc: int, before: int = 4, after: int = 6) -> CodeBytes:
    """The words around `pc`: `before` ahead of it where mapped, `after` behind it (A64 is
    fixed-width, so going backwards is exact)."""
    start = pc - 4 * before
    while start < pc:
        try:
            read(start, 4)
            break
        except HcdbgError:
            start += 4
    return read_words(read, start, (pc - start) // 4 + after + 1)
