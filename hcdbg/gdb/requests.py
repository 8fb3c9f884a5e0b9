"""gdb's requests as typed values: the parsing of a packet's payload (pure: standard
library only), after the GDB manual's "Packets" and "General Query Packets" sections.

Nothing here raises on bad input: a payload hcdbg understands the command of but not the
rest parses as `Malformed` (answered E01), an unknown one as `Unsupported` (answered with
the empty packet, the manual's rule for packets a stub does not implement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from hcdbg.gdb.packets import HEX_DIGITS as _HEX
from hcdbg.gdb.packets import MASK64, unescape


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


def hex_number(text: bytes, what: str, limit: int = MASK64) -> int | str:
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
    return hex_number(text, "thread id", 0x7FFF_FFFF)


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
            n = hex_number(body, "register", 0xFFFF)
            return Malformed(n) if isinstance(n, str) else ReadRegister(n)
        if head == b"P":
            num, eq, value = body.partition(b"=")
            n = hex_number(num, "register", 0xFFFF)
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
    address = hex_number(addr_text, "address")
    length = hex_number(len_text, "length")
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
    kind_type = hex_number(parts[0], "type", 4)
    address = hex_number(parts[1], "address")
    kind = hex_number(parts[2], "kind", 0xFFFF)
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
        offset = hex_number(off_text, "offset")
        length = hex_number(len_text, "length")
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
