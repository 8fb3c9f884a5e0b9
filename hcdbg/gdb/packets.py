"""The GDB Remote Serial Protocol's wire format: framing, checksums, escaping, run-length
encoding, and the parsing of a packet into a typed request (pure: standard library only).

Written from the GDB manual, appendix "GDB Remote Serial Protocol" (sections Overview,
Packets, Stop Reply Packets, General Query Packets). A packet is `$payload#cc`: `cc` the two
hex digits of the payload's byte sum modulo 256; `}` escapes the next byte XORed with 0x20
(`#`, `$`, `}` and `*` must be escaped in binary data); `X*n` repeats X (n - 29) more times
(response data only). A 0x03 byte outside a packet is gdb's Ctrl-C. Nothing here raises on
bad input: a damaged frame is reported as `Corrupt` (requests.py parses the payloads).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

#: Bytes that must be escaped in binary packet data (manual, "Overview").
_MUST_ESCAPE = frozenset(b"#$}*")
_ESCAPE = 0x7D  # '}'
#: The largest packet payload hcdbg accepts (and announces as PacketSize in qSupported).
MAX_PACKET = 0x4000
#: The most bytes a memory read (m) answers at once: two hex digits each fit in a packet.
MAX_MEMORY_READ = MAX_PACKET // 2 - 16
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
MASK64 = (1 << 64) - 1


# --- framing ----------------------------------------------------------------------------------
def checksum(payload: bytes) -> int:
    """The modulo-256 sum of a payload's bytes."""
    return sum(payload) & 0xFF


def escape(data: bytes) -> bytes:
    """Binary data with `#`, `$`, `}` and `*` escaped as `}` + (byte ^ 0x20)."""
    out = bytearray()
    for b in data:
        if b in _MUST_ESCAPE:
            out += bytes((_ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes | None:
    """The bytes escaped data stands for; None if it ends in a lone `}`."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == _ESCAPE:
            nxt = next(it, None)
            if nxt is None:
                return None
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def rle_encode(data: bytes) -> bytes:
    """Run-length encode: a run of 4 or more equal bytes becomes `X*n`, n = 29 + repeats,
    at most 97 repeats (n = '~', printable) and never 6 or 7 (n would be '#' or '$').
    `#`, `$`, `}` and `*` are never run-length encoded."""
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        j = i + 1
        while j < len(data) and data[j] == b:
            j += 1
        run = j - i
        i = j
        while run >= 4 and b not in _MUST_ESCAPE:
            repeats = min(run - 1, 97)
            if repeats in (6, 7):
                repeats = 5
            out += bytes((b, ord("*"), repeats + 29))
            run -= repeats + 1
        out += bytes((b,)) * run
    return bytes(out)


def rle_decode(data: bytes) -> bytes | None:
    """Expand `X*n` runs; None if a `*` has no byte before it or no count after it."""
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == ord("*"):
            if not out or i + 1 >= len(data) or data[i + 1] < 29:
                return None
            out += out[-1:] * (data[i + 1] - 29)
            i += 2
            continue
        out.append(b)
        i += 1
    return bytes(out)


def frame(payload: bytes, rle: bool = False) -> bytes:
    """`$payload#cc`, the payload run-length encoded first if asked (responses only)."""
    body = rle_encode(payload) if rle else payload
    return b"$" + body + b"#" + b"%02x" % checksum(body)


# --- reading a byte stream -------------------------------------------------------------------
@dataclass(frozen=True)
class Packet:
    """A well-formed packet's payload (still escaped: only binary packets unescape)."""

    payload: bytes


@dataclass(frozen=True)
class Ack:
    """`+`: the other side received our last packet."""


@dataclass(frozen=True)
class Nack:
    """`-`: the other side wants our last packet again."""


@dataclass(frozen=True)
class Interrupt:
    """A 0x03 byte between packets: gdb's Ctrl-C."""


@dataclass(frozen=True)
class Corrupt:
    """A damaged packet (bad checksum, too long): answer `-` so gdb sends it again."""

    reason: str


Event = Union[Packet, Ack, Nack, Interrupt, Corrupt]


class PacketReader:
    """Turns the bytes of a connection, in pieces of any size, into events. Bytes outside a
    packet that mean nothing are skipped, as the manual's retransmission scheme expects."""

    def __init__(self, max_payload: int = MAX_PACKET) -> None:
        self.max_payload = max_payload
        self._body: bytearray | None = None  # inside a packet: its payload so far
        self._sum: bytearray | None = None  # after '#': the checksum digits so far
        self._skipping = False  # a packet too long: drop its bytes until '#cc'

    @property
    def mid_packet(self) -> bool:
        """Whether the stream stopped inside a packet (a client gone mid-packet)."""
        return self._body is not None

    def feed(self, data: bytes) -> list[Event]:
        """The events completed by `data`."""
        events: list[Event] = []
        for b in data:
            if self._sum is not None:
                self._sum.append(b)
                if len(self._sum) == 2:
                    events.append(self._finish())
                continue
            if self._body is not None:
                if b == ord("#"):
                    self._sum = bytearray()
                elif b == ord("$"):  # a new packet starts: the last one was cut short
                    events.append(Corrupt("packet cut short by a new '$'"))
                    self._body, self._skipping = bytearray(), False
                elif not self._skipping:
                    self._body.append(b)
                    if len(self._body) > self.max_payload:
                        self._skipping = True
                        self._body = bytearray()
                continue
            if b == ord("$"):
                self._body, self._skipping = bytearray(), False
            elif b == ord("+"):
                events.append(Ack())
            elif b == ord("-"):
                events.append(Nack())
            elif b == 0x03:
                events.append(Interrupt())
        return events

    def _finish(self) -> Event:
        body, digits, skipped = self._body or bytearray(), bytes(self._sum or b""), self._skipping
        self._body = self._sum = None
        self._skipping = False
        if skipped:
            return Corrupt(f"packet longer than {self.max_payload} bytes")
        if not all(d in HEX_DIGITS for d in digits):
            return Corrupt(f"checksum {digits!r} is not two hex digits")
        if int(digits, 16) != checksum(body):
            return Corrupt(f"bad checksum {digits.decode()} (expected {checksum(body):02x})")
        return Packet(bytes(body))


# --- replies ----------------------------------------------------------------------------------
def hex_text(text: str) -> bytes:
    """Text as the hex digits of its UTF-8 bytes (qRcmd output, `O` packets)."""
    return text.encode("utf-8", errors="replace").hex().encode()


def console_packets(text: str, chunk: int = 400) -> list[bytes]:
    """`O` packets that make gdb print `text` (in pieces that fit a packet)."""
    raw = text.encode("utf-8", errors="replace")
    return [b"O" + raw[i:i + chunk].hex().encode() for i in range(0, len(raw), chunk)]


def xfer_reply(document: bytes, offset: int, length: int) -> bytes:
    """The reply to a qXfer read of `document`: `m` + a piece (more follows) or `l` + the
    last piece, binary-escaped."""
    piece = document[offset:offset + max(0, min(length, MAX_PACKET // 2))]
    more = offset + len(piece) < len(document)
    return (b"m" if more else b"l") + escape(piece)
