"""gdb's `x/NFU ADDR`: parsing the format and laying out memory (pure, reader injected)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hcdbg.errors import HcdbgError, UsageError
from hcdbg.machine.loader import Symbols
from hcdbg.render import disasm
from hcdbg.render.style import plain
from hcdbg.values import decimal

FORMATS = "xduotacszi"
SIZES = {"b": 1, "h": 2, "w": 4, "g": 8}
#: Units per output line, as gdb prints them.
_PER_LINE = {1: 8, 2: 8, 4: 4, 8: 2}
_MAX_STRING = 4096
_MAX_COUNT = 4096

Reader = Callable[[int, int], bytes]


@dataclass(frozen=True)
class Format:
    """A parsed `/NFU`: how many units, which format, what size."""

    count: int = 1
    fmt: str = "x"
    size: int = 4


def parse_format(text: str, last: Format = Format()) -> Format:
    """`/4xg` -> Format(4, 'x', 8). The format and size default to the last ones used
    (gdb's rule), the count to 1; `c` and `s` default to bytes, `a` to giant words."""
    body = text[1:] if text.startswith("/") else text
    digits = len(body) - len(body.lstrip("0123456789"))
    count = decimal(body[:digits]) if digits else 1
    if count is None:
        raise UsageError(f"bad count in '/{body}': {body[:digits]}")
    fmt, size = None, None
    for ch in body[digits:]:
        if ch in FORMATS and fmt is None:
            fmt = ch
        elif ch in SIZES and size is None:
            size = SIZES[ch]
        else:
            raise UsageError(f"bad format letter {ch!r} in '/{body}': formats "
                             f"{', '.join(FORMATS)}; sizes b, h, w, g")
    if count < 1 or count > _MAX_COUNT:
        raise UsageError(f"bad count {count} in '/{body}': 1..{_MAX_COUNT}")
    fmt = fmt or last.fmt
    if size is None:
        size = {"c": 1, "s": 1, "a": 8}.get(fmt) or (4 if last.fmt in "csa" else last.size)
    if fmt == "a" and size != 8:
        raise UsageError("format 'a' prints addresses: its size is g (8 bytes)")
    return Format(count, fmt, size)


def unit_text(value: int, fmt: str, size: int, symbols: Symbols) -> str:
    """One unit of memory in format `fmt`."""
    bits = size * 8
    if fmt in "xz":
        return f"0x{value:0{size * 2}x}"
    if fmt == "d":
        return str(value - (1 << bits) if value >> (bits - 1) else value)
    if fmt == "u":
        return str(value)
    if fmt == "o":
        return f"0{value:o}" if value else "0"
    if fmt == "t":
        return f"{value:0{bits}b}"
    if fmt == "c":
        ch = chr(value) if 0x20 <= value < 0x7F else None
        return f"{value} '{ch}'" if ch else f"{value} '\\x{value:02x}'"
    if fmt == "a":
        sym = symbols.describe(value)
        return f"0x{value:x}" + (f" <{sym}>" if sym else "")
    raise AssertionError(fmt)


def _label(address: int, symbols: Symbols) -> str:
    sym = symbols.describe(address)
    return f"0x{address:x}" + (f" <{sym}>" if sym else "") + ":"


def quote_bytes(data: bytes) -> str:
    """Bytes as gdb quotes a string: "a\\n\\001"."""
    text = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else
                   {0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}.get(
                       b, f"\\{b:03o}") for b in data)
    return f'"{text}"'


#: Bytes `x/s` reads at a time: a string is found by chunks, not byte by byte (4096 reads
#: of one byte each took 134 s over memory without a NUL).
_CHUNK = 256


def _read_some(read: Reader, at: int, size: int) -> bytes:
    """Up to `size` bytes from `at`, fewer where memory ends (at least one, or the reader's
    error: the first byte must be readable)."""
    while True:
        try:
            return read(at, size)
        except HcdbgError:
            if size == 1:
                raise
            size //= 2


def _string(read: Reader, address: int) -> tuple[str, int]:
    """A NUL-terminated string at `address` as gdb quotes it, and the address after it."""
    out = bytearray()
    at = address
    while len(out) < _MAX_STRING:
        chunk = _read_some(read, at, min(_CHUNK - at % _CHUNK, _MAX_STRING - len(out)))
        nul = chunk.find(0)
        if nul >= 0:
            out += chunk[:nul]
            at += nul + 1
            break
        out += chunk
        at += len(chunk)
    more = "..." if len(out) >= _MAX_STRING else ""
    return quote_bytes(bytes(out)) + more, at


def examine(read: Reader, address: int, f: Format, symbols: Symbols,
            pc: int | None = None) -> tuple[list[str], int]:
    """The lines `x` prints, and the address after the last unit (where `x` goes on)."""
    if f.fmt == "i":
        insns = disasm.read_insns(read, address, f.count)
        text = plain(disasm.listing(insns, symbols, pc))
        return text.splitlines(), address + 4 * len(insns)
    if f.fmt == "s":
        lines = []
        at = address
        for _ in range(f.count):
            text, nxt = _string(read, at)
            lines.append(f"{_label(at, symbols)}\t{text}")
            at = nxt
        return lines, at
    data = read(address, f.count * f.size)  # raises for unmapped memory before any output
    per_line = 8 if f.fmt == "c" else _PER_LINE[f.size]
    lines = []
    for start in range(0, f.count, per_line):
        units = []
        for i in range(start, min(start + per_line, f.count)):
            chunk = data[i * f.size:(i + 1) * f.size]
            units.append(unit_text(int.from_bytes(chunk, "little"), f.fmt, f.size, symbols))
        lines.append(f"{_label(address + start * f.size, symbols)}\t" + "\t".join(units))
    return lines, address + f.count * f.size
