"""The GDB Remote Serial Protocol's wire format: framing, checksums, escaping, run-length
encoding, and the parsing of a packet into a typed request (pure: standard library only).

Written from the GDB manual, appendix "GDB Remote Serial Protocol" (sections Overview,
Packets, Stop Reply Packets, General Query Packets). A packet is `$payload#cc`: `cc` the two
hex digits of the payload's byte sum modulo 256; `}` escapes the next byte XORed with 0x20
(`#`, `$`, `}` and `*` must be escaped in binary data); `X*n` repeats X (n - 29) more times
(response data only). A 0x03 byte outside a packet is gdb's Ctrl-C. Nothing here raises on
bad input: a malformed packet parses as `Malformed`, a damaged frame is reported as `Corrupt`.
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
_HEX = frozenset(b"0123456789abcdefABCDEF")
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
        if not all(d in _HEX for d in digits):
            return Corrupt(f"checksum {digits!r} is not two hex digits")
        if int(digits, 16) != checksum(body):
            return Corrupt(f"bad checksum {digits.decode()} (expected {checksum(body):02x})")
        return Packet(bytes(body))


# --- typed requests ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Malformed:
    """A packet hcdbg understands the command letter of but not the rest: answer E01."""

    reason: str


@dataclass(frozen=True)
class Unsupported:
    """A packet hcdbg does not implement: answer the empty packet (the manual's rule)."""

    payload: bytes


@dataclass(frozen=True)
class Halted:
    """`?`: why the target stopped."""


@dataclass(frozen=True)
class ReadRegisters:
    """`g`."""


@dataclass(frozen=True)
class WriteRegisters:
    """`G XX...`: every register's bytes, in target order."""

    data: bytes


@dataclass(frozen=True)
class ReadRegister:
    """`p n`."""

    number: int


@dataclass(frozen=True)
class WriteRegister:
    """`P n=XX...`."""

    number: int
    data: bytes


@dataclass(frozen=True)
class ReadMemory:
    """`m addr,length`."""

    address: int
    length: int


@dataclass(frozen=True)
class WriteMemory:
    """`M addr,length:XX...` (and `X addr,length:binary`)."""

    address: int
    data: bytes


@dataclass(frozen=True)
class Breakpoint:
    """`Z type,addr,kind` (insert) or `z type,addr,kind` (remove); type 0 software, 1
    hardware, 2-4 watchpoints."""

    insert: bool
    type: int
    address: int
    kind: int


@dataclass(frozen=True)
class Resume:
    """`c`, `s`, `C sig`, `S sig` or one action of `vCont`: continue or step `thread`
    (None: the thread `Hc` chose, or all threads for a continue)."""

    step: bool
    thread: int | None = None


@dataclass(frozen=True)
class VCont:
    """`vCont;action[:thread]...`: the actions in order (the first that applies to a thread
    wins for it, per the manual)."""

    actions: tuple[Resume, ...]


@dataclass(frozen=True)
class SetThread:
    """`Hg t` (registers and memory) or `Hc t` (resumption); t = -1 all, 0 any."""

    op: str
    thread: int


@dataclass(frozen=True)
class ThreadAlive:
    """`T t`."""

    thread: int


@dataclass(frozen=True)
class Query:
    """A general query `qName[:,;]args` or set `QName...`, split at its name."""

    name: str
    args: bytes


@dataclass(frozen=True)
class Monitor:
    """`qRcmd,hex`: a command line for the stub (gdb's `monitor`)."""

    command: str


@dataclass(frozen=True)
class ReadFeatures:
    """`qXfer:features:read:annex:offset,length`."""

    annex: str
    offset: int
    length: int


@dataclass(frozen=True)
class Detach:
    """`D`."""


@dataclass(frozen=True)
class Kill:
    """`k` or `vKill`."""


Request = Union[Malformed, Unsupported, Halted, ReadRegisters, WriteRegisters, ReadRegister,
                WriteRegister, ReadMemory, WriteMemory, Breakpoint, Resume, VCont, SetThread,
                ThreadAlive, Query, Monitor, ReadFeatures, Detach, Kill]


def _hex_number(text: bytes, what: str, limit: int = MASK64) -> int | str:
    """A hex number of at most 16 digits up to `limit`, or the reason it is not one."""
    if not text or len(text) > 16 or not all(c in _HEX for c in text):
        return f"{what} {text[:20]!r} is not a hex number"
    value = int(text, 16)
    if value > limit:
        return f"{what} {value:#x} is too large"
    return value


def _hex_bytes(text: bytes) -> bytes | None:
    if len(text) % 2 or not all(c in _HEX for c in text):
        return None
    return bytes.fromhex(text.decode())


def _thread(text: bytes) -> int | str:
    """A thread id: hex, -1 (all) or 0 (any)."""
    if text == b"-1":
        return -1
    return _hex_number(text, "thread id", 0x7FFF_FFFF)


def parse_request(payload: bytes) -> Request:
    """What a packet's payload asks for. Never raises."""
    if not payload:
        return Unsupported(payload)
    head, body = payload[:1], payload[1:]
    try:
        if payload == b"?":
            return Halted()
        if payload == b"g":
            return ReadRegisters()
        if head == b"G":
            data = _hex_bytes(body)
            return Malformed("G: odd or non-hex register data") if data is None else WriteRegisters(data)
        if head == b"p":
            n = _hex_number(body, "register", 0xFFFF)
            return Malformed(n) if isinstance(n, str) else ReadRegister(n)
        if head == b"P":
            num, eq, value = body.partition(b"=")
            n = _hex_number(num, "register", 0xFFFF)
            data = _hex_bytes(value)
            if isinstance(n, str) or not eq or data is None:
                return Malformed(n if isinstance(n, str) else "P: expected n=XX...")
            return WriteRegister(n, data)
        if head in (b"m", b"M", b"X"):
            return _memory(head, body)
        if head in (b"Z", b"z"):
            return _breakpoint(head == b"Z", body)
        if head in (b"c", b"s", b"C", b"S"):
            # c [addr] / C sig[;addr]: resuming at another address is not supported
            rest = body.partition(b";")[2] if head in (b"C", b"S") else body
            if rest:
                return Unsupported(payload)
            return Resume(step=head in (b"s", b"S"))
        if head == b"H" and body[:1] in (b"g", b"c"):
            t = _thread(body[1:])
            return Malformed(t) if isinstance(t, str) else SetThread(body[:1].decode(), t)
        if head == b"T":
            t = _thread(body)
            return Malformed(t) if isinstance(t, str) else ThreadAlive(t)
        if payload == b"D" or payload.startswith(b"D;"):
            return Detach()
        if payload in (b"k", b"vKill") or payload.startswith(b"vKill;"):
            return Kill()
        if payload.startswith(b"vCont"):
            return _vcont(payload)
        if head in (b"q", b"Q"):
            return _query(payload)
    except (ValueError, UnicodeDecodeError) as exc:  # defensive: the helpers check first
        return Malformed(str(exc))
    return Unsupported(payload)


def _memory(head: bytes, body: bytes) -> Request:
    where, colon, data = body.partition(b":")
    addr_text, comma, len_text = where.partition(b",")
    address = _hex_number(addr_text, "address")
    length = _hex_number(len_text, "length")
    if isinstance(address, str) or isinstance(length, str) or not comma:
        return Malformed(address if isinstance(address, str) else
                         length if isinstance(length, str) else "expected addr,length")
    if head == b"m":
        return Malformed("m takes no data") if colon else ReadMemory(address, length)
    if not colon:
        return Malformed(f"{head.decode()}: expected addr,length:data")
    if head == b"M":
        raw = _hex_bytes(data)
        if raw is None:
            return Malformed("M: odd or non-hex data")
    else:
        unescaped = unescape(data)
        if unescaped is None:
            return Malformed("X: data ends in an escape")
        raw = unescaped
    if len(raw) != length:
        return Malformed(f"{head.decode()}: {length} bytes announced, {len(raw)} given")
    return WriteMemory(address, raw)


def _breakpoint(insert: bool, body: bytes) -> Request:
    parts = body.split(b";")[0].split(b",")
    if len(parts) != 3:
        return Malformed("Z/z: expected type,addr,kind")
    kind_type = _hex_number(parts[0], "type", 4)
    address = _hex_number(parts[1], "address")
    kind = _hex_number(parts[2], "kind", 0xFFFF)
    for v in (kind_type, address, kind):
        if isinstance(v, str):
            return Malformed(v)
    assert isinstance(kind_type, int) and isinstance(address, int) and isinstance(kind, int)
    return Breakpoint(insert, kind_type, address, kind)


def _vcont(payload: bytes) -> Request:
    if payload == b"vCont?":
        return Query("vCont?", b"")
    if not payload.startswith(b"vCont;"):
        return Unsupported(payload)
    actions = []
    for item in payload[len(b"vCont;"):].split(b";"):
        verb, colon, thread_text = item.partition(b":")
        if verb[:1] in (b"c", b"s") and len(verb) == 1 or verb[:1] in (b"C", b"S") and len(verb) == 3:
            thread: int | None = None
            if colon:
                t = _thread(thread_text)
                if isinstance(t, str):
                    return Malformed(t)
                thread = None if t == -1 else t
            actions.append(Resume(step=verb[:1] in (b"s", b"S"), thread=thread))
        elif verb == b"t":
            continue  # stop a thread: every thread is stopped already (all-stop)
        else:
            return Malformed(f"vCont: unknown action {verb[:10]!r}")
    if not actions:
        return Malformed("vCont: no action")
    return VCont(tuple(actions))


def _query(payload: bytes) -> Request:
    if payload.startswith(b"qRcmd,"):
        raw = _hex_bytes(payload[len(b"qRcmd,"):])
        if raw is None:
            return Malformed("qRcmd: odd or non-hex command")
        return Monitor(raw.decode("utf-8", errors="replace"))
    if payload.startswith(b"qXfer:features:read:"):
        annex, _, span = payload[len(b"qXfer:features:read:"):].rpartition(b":")
        off_text, comma, len_text = span.partition(b",")
        offset = _hex_number(off_text, "offset")
        length = _hex_number(len_text, "length")
        if isinstance(offset, str) or isinstance(length, str) or not comma:
            return Malformed(offset if isinstance(offset, str) else
                             length if isinstance(length, str) else "qXfer: expected offset,length")
        return ReadFeatures(annex.decode("ascii", errors="replace"), offset, length)
    end = len(payload)
    for sep in b":,;":
        at = payload.find(bytes((sep,)), 1)
        if at != -1:
            end = min(end, at)
    return Query(payload[:end].decode("ascii", errors="replace"), payload[end + 1:])


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
