"""The gdb stub's packet layer (hcdbg/gdb/packets.py, requests.py), without Unicorn: framing,
checksums, escaping and run-length encoding as the GDB manual's "Remote Protocol" appendix
defines them, and parsing; hypothesis feeds it arbitrary bytes, which must never raise."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_support import examples
from hcdbg.gdb import packets as P
from hcdbg.gdb import requests as R


def _settings(default: int) -> settings:
    return settings(max_examples=examples(default), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# --- examples from the manual -------------------------------------------------------------
def test_checksum_is_the_byte_sum_modulo_256() -> None:
    # manual "Overview": $packet-data#checksum, two hex digits of the modulo-256 sum
    assert P.frame(b"g") == b"$g#67"
    assert P.frame(b"OK") == b"$OK#9a"
    assert P.frame(b"") == b"$#00"


def test_run_length_example_from_the_manual() -> None:
    # manual: "0* " means the same as "0000" (' ' is 32: 3 repeats)
    assert P.rle_decode(b"0* ") == b"0000"
    assert P.rle_encode(b"0000") == b"0* "


def test_run_length_never_uses_hash_or_dollar_as_a_count() -> None:
    for n in range(1, 300):
        body = P.rle_encode(b"a" * n)
        counts = body[2::3] if b"*" in body else b""
        assert b"#" not in body and b"$" not in body, (n, body)
        assert all(c <= 126 for c in counts), (n, body)
        assert P.rle_decode(body) == b"a" * n


def test_escape_is_0x7d_then_the_byte_xor_0x20() -> None:
    # manual: '}' escapes; '#', '$', '}' and '*' must be escaped (0x7d 0x03 for '#')
    assert P.escape(b"#$}*a") == b"}\x03}\x04}]}\x0aa"
    assert P.unescape(b"}\x03}\x04}]}\x0aa") == b"#$}*a"
    assert P.unescape(b"ab}") is None


def test_reader_reports_acks_ctrl_c_packets_and_bad_checksums() -> None:
    r = P.PacketReader()
    events = r.feed(b"+$g#67-\x03$g#00")
    assert events == [P.Ack(), P.Packet(b"g"), P.Nack(), P.Interrupt(), events[4]]
    assert isinstance(events[4], P.Corrupt) and "checksum" in events[4].reason


def test_reader_takes_a_packet_in_any_pieces() -> None:
    r = P.PacketReader()
    data = P.frame(b"qSupported:multiprocess+;swbreak+")
    events = [e for b in data for e in r.feed(bytes([b]))]
    assert events == [P.Packet(b"qSupported:multiprocess+;swbreak+")]
    assert not r.mid_packet


def test_reader_drops_a_packet_longer_than_its_limit_and_recovers() -> None:
    r = P.PacketReader(max_payload=16)
    events = r.feed(P.frame(b"m" * 100) + P.frame(b"g"))
    assert isinstance(events[0], P.Corrupt) and "longer" in events[0].reason
    assert events[1:] == [P.Packet(b"g")]


def test_a_new_dollar_inside_a_packet_ends_the_cut_one() -> None:
    r = P.PacketReader()
    events = r.feed(b"$m400" + P.frame(b"?"))
    assert isinstance(events[0], P.Corrupt) and events[1:] == [P.Packet(b"?")]


# --- requests -----------------------------------------------------------------------------
def test_requests_parse_into_their_types() -> None:
    pr = R.parse_request
    assert pr(b"?") == R.Halted()
    assert pr(b"g") == R.ReadRegisters()
    assert pr(b"p20") == R.ReadRegister(0x20)
    assert pr(b"P1f=0100000000000000") == R.WriteRegister(31, b"\x01" + b"\0" * 7)
    assert pr(b"m40080000,4") == R.ReadMemory(0x40080000, 4)
    assert pr(b"M40080000,2:abcd") == R.WriteMemory(0x40080000, b"\xab\xcd")
    assert pr(b"X40080000,1:}\x03") == R.WriteMemory(0x40080000, b"#")
    assert pr(b"Z0,400801f4,4") == R.Breakpoint(True, 0, 0x400801F4, 4)
    assert pr(b"z1,400801f4,4") == R.Breakpoint(False, 1, 0x400801F4, 4)
    assert pr(b"vCont;s:2;c") == R.VCont((R.Resume(True, 2), R.Resume(False, None)))
    assert pr(b"vCont;c:-1") == R.VCont((R.Resume(False, None),))
    assert pr(b"vCont;C05:1") == R.VCont((R.Resume(False, 1),))
    assert pr(b"c") == R.Resume(False) and pr(b"s") == R.Resume(True)
    assert pr(b"Hg3") == R.SetThread("g", 3) and pr(b"Hc-1") == R.SetThread("c", -1)
    assert pr(b"T2") == R.ThreadAlive(2)
    assert pr(b"qRcmd," + b"calls".hex().encode()) == R.Monitor("calls")
    assert pr(b"qXfer:features:read:target.xml:0,ffb") == R.ReadFeatures("target.xml", 0, 0xFFB)
    assert pr(b"qSupported:multiprocess+") == R.Query("qSupported", b"multiprocess+")
    assert pr(b"qfThreadInfo") == R.Query("qfThreadInfo", b"")
    assert pr(b"D") == R.Detach() and pr(b"D;1") == R.Detach()
    assert pr(b"k") == R.Kill() and pr(b"vKill;1") == R.Kill()
    assert isinstance(pr(b"vMustReplyEmpty"), R.Unsupported)


def test_bad_requests_are_malformed_not_errors() -> None:
    for payload in (b"m", b"m1", b"m,4", b"mzz,4", b"m1,4:00", b"M0,2:abc", b"M0,4:abcd",
                    b"p", b"p1ffff", b"P1=zz", b"Z9,0,4", b"Z0,0", b"Hgzz", b"vCont;x",
                    b"vCont;", b"qRcmd,abc", b"qXfer:features:read:target.xml:0",
                    b"m" + b"f" * 17 + b",4", b"G123", b"X0,1:}"):
        assert isinstance(R.parse_request(payload), R.Malformed), payload


def test_huge_numbers_are_refused_not_computed() -> None:
    assert isinstance(R.parse_request(b"m" + b"1" * 5000 + b",1"), R.Malformed)
    assert isinstance(R.parse_request(b"m0," + b"f" * 5000), R.Malformed)


def test_xfer_reply_splits_a_document_and_escapes_it() -> None:
    doc = b"<a>#$}*</a>" * 10
    got, offset = b"", 0
    while True:
        reply = P.xfer_reply(doc, offset, 17)
        piece = P.unescape(reply[1:])
        assert piece is not None and len(piece) <= 17
        got += piece
        offset += len(piece)
        if reply[:1] == b"l":
            break
        assert reply[:1] == b"m"
    assert got == doc


def test_console_packets_are_hex_of_the_text() -> None:
    packets = P.console_packets("é" * 300, chunk=100)
    assert all(p.startswith(b"O") for p in packets)
    assert b"".join(bytes.fromhex(p[1:].decode()) for p in packets).decode() == "é" * 300


# --- fuzz ---------------------------------------------------------------------------------
@_settings(300)
@given(st.binary(max_size=600))
def test_any_payload_parses_without_raising(payload: bytes) -> None:
    request = R.parse_request(payload)
    assert request is not None


_PREFIXES = [b"m", b"M", b"X", b"p", b"P", b"Z0,", b"z1,", b"vCont;", b"H", b"T", b"qRcmd,",
             b"qXfer:features:read:target.xml:", b"G", b"qSupported:", b"c", b"s"]


@_settings(300)
@given(st.sampled_from(_PREFIXES), st.text("0123456789abcdefABCDEF,:;=-}*#$ \x00sScCt", max_size=80))
def test_near_valid_payloads_parse_without_raising(prefix: bytes, rest: str) -> None:
    R.parse_request(prefix + rest.encode())


@_settings(300)
@given(st.lists(st.one_of(st.binary(max_size=40),
                          st.binary(max_size=40).map(P.frame),
                          st.sampled_from([b"$", b"#", b"+", b"-", b"\x03", b"}", b"*"])),
                max_size=30),
       st.integers(1, 64))
def test_any_byte_stream_in_any_pieces_reads_without_raising(chunks: list[bytes], size: int) -> None:
    data = b"".join(chunks)
    whole = P.PacketReader(max_payload=64).feed(data)
    r = P.PacketReader(max_payload=64)
    pieces = [e for i in range(0, len(data), size) for e in r.feed(data[i:i + size])]
    assert pieces == whole  # how the bytes arrive does not change what they mean
    for event in whole:
        if isinstance(event, P.Packet):
            R.parse_request(event.payload)


@_settings(200)
@given(st.binary(max_size=300))
def test_framed_payloads_come_back_exactly(payload: bytes) -> None:
    body = P.escape(payload)
    events = P.PacketReader().feed(P.frame(body))
    assert events == [P.Packet(body)] and P.unescape(body) == payload


@_settings(200)
@given(st.binary(max_size=300))
def test_run_length_round_trips_escaped_data(payload: bytes) -> None:
    body = P.escape(payload)
    encoded = P.rle_encode(body)
    assert b"#" not in encoded and b"$" not in encoded
    assert P.rle_decode(encoded) == body
    assert P.PacketReader().feed(P.frame(body, rle=True)) == [P.Packet(encoded)]


def test_the_packet_layer_is_pure_and_the_stub_imports_no_prompt_toolkit() -> None:
    import ast
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in ("packets", "requests"):
        tree = ast.parse((root / "hcdbg" / "gdb" / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert imported <= {"__future__", "dataclasses", "typing", "hcdbg.gdb.packets"}, name
    code = ("import sys, hcdbg.gdb.server, hcdbg.cli.trace;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prompt_toolkit'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         check=True)
    assert out.stdout.strip() == "[]"
