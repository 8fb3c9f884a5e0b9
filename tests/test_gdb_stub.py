"""hcdbg's gdb stub over a real socket, driven by a small client written from the GDB manual
(tests/gdb_client.py): what gdb asks for on attach, registers and memory checked against the
guest's ELF file (read with pyelftools, not with hcdbg), breakpoints, forwarded calls,
Ctrl-C, monitor, bad input on the wire, one client at a time, a port in use."""
from __future__ import annotations

import signal
import socket
import time

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import guest, run_hcdbg
from fuzz_support import examples
from gdb_client import Client, finish, frame, start
from hcdbg.gdb.packets import Packet, PacketReader

PSCI_TOUR = guest("psci-tour")


def _elf(path=PSCI_TOUR) -> tuple[int, dict[str, int], ELFFile]:
    f = ELFFile(open(path, "rb"))  # noqa: SIM115 - kept open for segment reads
    symbols = {s.name: s["st_value"] for s in f.get_section_by_name(".symtab").iter_symbols()}
    return f.header["e_entry"], symbols, f


def _bytes_at(f: ELFFile, address: int, n: int) -> bytes:
    for seg in f.iter_segments():
        if seg["p_type"] == "PT_LOAD" and seg["p_vaddr"] <= address < seg["p_vaddr"] + seg["p_filesz"]:
            off = address - seg["p_vaddr"]
            return seg.data()[off:off + n]
    raise AssertionError(f"{address:#x} not in the ELF")


def _regs(client: Client) -> bytes:
    return bytes.fromhex(client.ask(b"g").decode())


def _pc(client: Client) -> int:
    return int.from_bytes(bytes.fromhex(client.ask(b"p20").decode()), "little")


@pytest.fixture
def traced():
    """`hcdbg trace --gdb 0 psci-tour` and a client attached to it."""
    proc, port = start("trace", "--gdb", "0", "psci-tour")
    client = Client(port)
    yield proc, client
    client.close()
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_attach_sees_the_guest_at_its_entry_point_with_four_threads(traced) -> None:
    _, client = traced
    supported = client.ask(b"qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")
    assert b"qXfer:features:read+" in supported.split(b";")
    xml = b""
    while True:
        reply = client.ask(b"qXfer:features:read:target.xml:%x,200" % len(xml))
        xml += reply[1:]
        if reply[:1] == b"l":
            break
    assert b'<feature name="org.gnu.gdb.aarch64.core">' in xml
    assert b'<feature name="org.gnu.gdb.aarch64.fpu">' in xml
    for reg in (b'"x0"', b'"x30"', b'"sp"', b'"pc"', b'"cpsr"', b'"v31"', b'"fpsr"', b'"fpcr"'):
        assert b"name=" + reg in xml
    assert client.ask(b"?") == b"T05thread:1;"
    assert client.ask(b"qfThreadInfo") == b"m1,2,3,4"  # psci-tour runs on 4 vCPUs
    assert client.ask(b"qsThreadInfo") == b"l"
    entry, _, _ = _elf()
    regs = _regs(client)
    # 31 x + sp + pc (8 bytes), cpsr (4), v0-v31 (16), fpsr, fpcr (4): the description's order
    assert len(regs) == 33 * 8 + 4 + 32 * 16 + 2 * 4
    assert int.from_bytes(regs[32 * 8:33 * 8], "little") == entry
    cpsr = int.from_bytes(regs[33 * 8:33 * 8 + 4], "little")
    assert cpsr & 0xF == 0b0101  # EL1h, as the arm64 boot protocol starts a kernel
    assert cpsr & 0x3C0 == 0x3C0  # DAIF masked
    assert client.ask(b"T4") == b"OK" and client.ask(b"T5").startswith(b"E")


def test_memory_reads_what_the_elf_holds_and_writes_stick(traced) -> None:
    _, client = traced
    entry, symbols, f = _elf()
    main = symbols["main"]
    assert bytes.fromhex(client.ask(b"m%x,40" % main).decode()) == _bytes_at(f, main, 0x40)
    assert client.ask(b"M%x,4:1f2003d5" % (main + 8)) == b"OK"  # nop
    assert client.ask(b"m%x,4" % (main + 8)) == b"1f2003d5"
    assert client.ask(b"m0,4").startswith(b"E")  # nothing is mapped at 0 (no -bios flash)
    big = client.ask(b"m%x,fffffff" % main)  # a huge length: a short read, not a failure
    assert 0 < len(big) <= 0x4000 and big[:16] == _bytes_at(f, main, 8).hex().encode()


def test_breakpoint_then_forwarded_call_then_reply_and_power_off(traced) -> None:
    proc, client = traced
    _, symbols, _ = _elf()
    assert client.ask(b"Z0,%x,4" % symbols["main"]) == b"OK"
    assert client.ask(b"vCont;c") == b"T05thread:1;"
    assert _pc(client) == symbols["main"]
    assert client.ask(b"z0,%x,4" % symbols["main"]) == b"OK"
    out = client.monitor("filter add PSCI_VERSION forward")
    assert "PSCI_VERSION" in out and "forward" in out
    stop = client.ask(b"vCont;c")
    assert stop == b"T05thread:1;"  # SIGTRAP, no swbreak: a forwarded call, not a breakpoint
    assert "PSCI_VERSION" in client.output and "monitor reply" in client.output
    x0 = int.from_bytes(_regs(client)[:8], "little")
    assert x0 == 0x8400_0000  # the call's function ID (DEN0022 PSCI_VERSION)
    before = len(client.output)
    assert client.ask(b"vCont;c") == b"T05thread:1;"  # no answer yet: it stays
    assert "no answer yet" in client.output[before:]
    assert "0x10000" in client.monitor("reply 0x10000")
    assert client.ask(b"vCont;c") == b"W00"  # the guest powered off: exited, status 0
    assert "PSCI_VERSION" in client.monitor("calls")
    client.raw(frame(b"D"))
    status, out, err = finish(proc)
    assert out.splitlines()[0] == "PSCI_VERSION -> 0x0000000000010000"
    assert status == 0 and "+++ guest powered off" in err


def test_step_moves_one_instruction_on_the_chosen_vcpu(traced) -> None:
    _, client = traced
    entry, _, _ = _elf()
    assert client.ask(b"vCont;s:1") == b"T05thread:1;"
    assert _pc(client) == entry + 4
    assert client.ask(b"vCont;s:3") == b"T05thread:1;"  # vCPU 2 is off: refused, told why
    assert "powered off" in client.output


def test_ctrl_c_stops_a_running_guest(tmp_path) -> None:
    proc, port = start("trace", "--gdb", "0", "hello")
    client = Client(port)
    try:
        _, symbols, _ = _elf(guest("hello"))
        # main becomes `b .` (A64 B, offset 0: Arm ARM C6.2.26): only Ctrl-C stops it
        assert client.ask(b"M%x,4:00000014" % symbols["main"]) == b"OK"
        assert client.ask(b"Z0,%x,4" % symbols["main"]) == b"OK"  # first to main, so that
        assert client.ask(b"vCont;c") == b"T05thread:1;"  # the guest is there whenever
        assert client.ask(b"z0,%x,4" % symbols["main"]) == b"OK"  # the Ctrl-C lands
        client.raw(frame(b"vCont;c"))
        client.raw(b"\x03")
        assert client.packet() == b"T02thread:1;"  # SIGINT
        assert client.ask(b"?") == b"T02thread:1;"
        assert _pc(client) == symbols["main"]
        client.raw(frame(b"k"))
        status, _, err = finish(proc)
        assert "killed by gdb" in err and status == 1
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()


def test_bad_input_on_the_wire_never_ends_the_stub(traced) -> None:
    _, client = traced
    client.raw(b"$g#00")  # wrong checksum: '-' asks for it again
    reply = client.sock.recv(1)
    assert reply == b"-"
    for payload in (b"m", b"mzz,4", b"M0,4:zz", b"Z7,0,4", b"p9999", b"Hgzz", b"vCont;q"):
        assert client.ask(payload).startswith(b"E") or client.ask(b"?")
    assert client.ask(b"vMustReplyEmpty") == b""
    client.raw(b"$" + b"m" * 100_000 + b"#00")  # longer than any packet
    assert client.sock.recv(1) == b"-"
    client.raw(b"\xff\x00garbage}}**##")
    assert client.ask(b"?") == b"T05thread:1;"
    client.raw(b"$m4008")  # gone in the middle of a packet
    client.close()


def test_a_client_gone_mid_packet_lets_trace_run_to_the_end() -> None:
    proc, port = start("trace", "--gdb", "0", "psci-tour")
    client = Client(port)
    client.raw(frame(b"?"))
    assert client.packet() == b"T05thread:1;"
    client.raw(b"$m40080000,")
    client.close()
    status, out, err = finish(proc)
    assert status == 0 and "+++ guest powered off" in err and "PSCI_VERSION ->" in out


@settings(max_examples=examples(60), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=300))
def test_fuzzed_bytes_on_the_wire_then_a_valid_packet_gets_its_answer(traced, garbage: bytes) -> None:
    # No complete valid packet in the garbage (a random 'k' or 'D' would end the session).
    assume(not any(isinstance(e, Packet) for e in PacketReader().feed(garbage + b"#00")))
    _, client = traced
    client.raw(garbage + b"#00")  # "#00" ends whatever packet the garbage left open
    client.raw(frame(b"?"))
    assert client.packet() == b"T05thread:1;"


def test_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for args in (["trace", "--gdb", str(port), "hello"], ["--gdb", f"127.0.0.1:{port}", "hello"]):
            proc = run_hcdbg(*args, timeout=120, input="")
            assert proc.returncode == 2 and proc.stdout == "", proc
            assert proc.stderr.strip().splitlines() == [
                f"hcdbg: --gdb 127.0.0.1:{port}: cannot listen: port in use"]


def test_bad_gdb_address_is_a_usage_error() -> None:
    proc = run_hcdbg("trace", "--gdb", "127.0.0.1:99999", "hello")
    assert proc.returncode == 2 and "PORT 0..65535" in proc.stderr


def test_any_other_address_only_when_asked_and_with_a_warning() -> None:
    proc, port = start("trace", "--gdb", "0.0.0.0:0", "hello")
    try:
        client = Client(port)
        client.raw(frame(b"D"))
        assert client.packet() == b"OK"
        client.close()
        status, _, err = finish(proc)
        assert "warning: the gdb stub listens on 0.0.0.0:" in proc.seen and status == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _repl_line(proc, line: str | None) -> str:
    """Type a line at the REPL (plain mode: stdin a pipe) and read up to the next prompt."""
    if line is not None:
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()
    out = b""
    while not out.endswith(b"(hcdbg) "):
        chunk = proc.stdout.read1(4096)
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def test_repl_and_gdb_drive_the_same_session_one_client_at_a_time() -> None:
    proc, port = start("--gdb", "0", "psci-tour")
    try:
        _repl_line(proc, None)  # up to the first prompt
        assert "forward" in _repl_line(proc, "filter add PSCI_VERSION forward")
        client = Client(port)
        with socket.create_connection(("127.0.0.1", port), timeout=60) as second:
            assert second.recv(16) == b""  # one client at a time: the second is closed
        assert client.ask(b"vCont;c") == b"T05thread:1;"  # the REPL's range stops gdb's run
        assert "PSCI_VERSION on vCPU 0" in client.output
        assert "0x10000" in _repl_line(proc, "reply 0x10000")  # answered at the prompt
        assert client.ask(b"vCont;c") == b"W00"
        calls = _repl_line(proc, "calls")  # the REPL sees the run gdb made
        assert "PSCI_VERSION" in calls and "0x10000" in calls
        client.raw(frame(b"D"))
        assert client.packet() == b"OK"
        client.close()
        status, _, _ = finish(proc)
        assert status == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_prompt_waits_its_turn_while_gdb_runs_the_guest() -> None:
    proc, port = start("--gdb", "0", "hello")
    try:
        _repl_line(proc, None)
        client = Client(port)
        _, symbols, _ = _elf(guest("hello"))
        assert client.ask(b"M%x,4:00000014" % symbols["main"]) == b"OK"  # main: `b .`
        client.raw(frame(b"vCont;c"))
        deadline = time.monotonic() + 60  # until the stub has taken the vCont and runs
        while "gdb is running the guest" not in _repl_line(proc, "info registers pc"):
            assert time.monotonic() < deadline
        client.raw(b"\x03")
        assert client.packet() == b"T02thread:1;"
        assert f"{symbols['main']:#x}" in _repl_line(proc, "info registers pc")
        assert client.ask(b"P5=2a00000000000000") == b"OK"  # x5 = 42, written by gdb ...
        assert "0x2a" in _repl_line(proc, "info registers x5")  # ... seen at the prompt
        _repl_line(proc, "set $x6 = 0x99")  # and the other way round
        assert client.ask(b"p6") == (0x99).to_bytes(8, "little").hex().encode()
        client.raw(frame(b"D"))
        assert client.packet() == b"OK"
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_a_guest_reset_is_a_stop_at_the_entry_point() -> None:
    proc, port = start("trace", "--gdb", "0", "reset")  # SYSTEM_RESET at every boot
    client = Client(port)
    try:
        entry, _, _ = _elf(guest("reset"))
        for _ in range(2):
            assert client.ask(b"vCont;c") == b"T05thread:1;"
            assert "starts again at its entry point" in client.output
            assert _pc(client) == entry
        client.raw(frame(b"k"))
        status, out, err = finish(proc)
        assert out.count("boot 0x1\nSYSTEM_RESET\n") == 2 and "killed by gdb" in err and status == 1
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_at_hcdbgs_terminal_ends_trace_waiting_for_gdb_or_serving_it() -> None:
    for attach in (False, True):
        proc, port = start("trace", "--gdb", "0", "hello")
        client = Client(port) if attach else None
        try:
            if client is not None:
                assert client.ask(b"?") == b"T05thread:1;"
            proc.send_signal(signal.SIGINT)
            status, _, err = finish(proc)
            assert status == 130 and "interrupted" in err, (attach, err)
        finally:
            if client is not None:
                client.close()
            if proc.poll() is None:
                proc.kill()


def test_gdb_gets_an_error_at_once_while_the_prompt_runs_the_guest() -> None:
    proc, port = start("--gdb", "0", "hello")
    try:
        _repl_line(proc, None)
        client = Client(port)
        _, symbols, _ = _elf(guest("hello"))
        assert client.ask(b"M%x,4:00000014" % symbols["main"]) == b"OK"  # main: `b .`
        proc.stdin.write(b"continue\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 60  # until the prompt's run holds the session
        while client.ask(b"g") != b"E01":
            assert time.monotonic() < deadline
        proc.send_signal(signal.SIGINT)  # Ctrl-C at the prompt stops its run
        assert "interrupted" in _repl_line(proc, None)
        assert client.ask(b"p20") == symbols["main"].to_bytes(8, "little").hex().encode()
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_the_prompts_toolbar_says_when_gdb_runs_the_guest_and_where_it_stopped() -> None:
    import io
    import threading

    from hcdbg.cli.launch import build_session
    from hcdbg.cli.parse import repl_options
    from hcdbg.gdb.server import Connection
    from hcdbg.repl.app import toolbar
    from hcdbg.repl.console import Console
    from hcdbg.repl.debugger import Debugger

    console = Console(io.StringIO(), False)
    dbg = Debugger(build_session(repl_options(["hello", "--forward", "PSCI_SYSTEM_OFF"]),
                                 console.uart), console)
    ours, theirs = socket.socketpair()
    seen: list[str] = []
    real_cont = dbg.session.cont

    def cont(max_insns=None):  # what the toolbar says while gdb's run is under way
        seen.append(toolbar(dbg))
        return real_cont(max_insns)

    dbg.session.cont = cont  # type: ignore[method-assign]
    server = threading.Thread(target=Connection(ours, dbg, threading.RLock()).serve, daemon=True)
    server.start()
    theirs.sendall(frame(b"vCont;c"))
    data = b""
    while b"$T05" not in data:
        data += theirs.recv(4096)
    assert "gdb runs the guest" in seen[0]
    assert "at PSCI_SYSTEM_OFF on vCPU 0: reply, handle or deny" in toolbar(dbg)
    theirs.close()
    server.join(60)


def test_a_client_gone_while_the_guest_runs_for_it_lets_trace_finish() -> None:
    proc, port = start("trace", "--gdb", "0", "psci-tour")
    client = Client(port)
    try:
        client.raw(frame(b"vCont;c"))
        client.close()  # gone without waiting for the stop: the run stops or ends, then goes on
        status, out, err = finish(proc)
        assert status == 0 and "+++ guest powered off" in err
        assert out.splitlines()[-1] == "SYSTEM_OFF"  # the guest's whole output, to its end
    finally:
        if proc.poll() is None:
            proc.kill()


_ADDRESSES = st.sampled_from([0, 4, 0x0900_0000, 0x0800_0000, 0x3FFF_FFFC, 0x4000_0000,
                              0x4008_0000, 0x4008_0FFE, 0x47FF_FFFC, 0x4800_0000,
                              (1 << 48) - 4, (1 << 64) - 4, (1 << 64) - 1])
_HEXDATA = st.binary(max_size=64).map(lambda b: b.hex().encode())


def _request() -> st.SearchStrategy[bytes]:
    n = st.integers(0, 0x2_0000)
    small = st.integers(0, 300)
    thread = st.sampled_from([b"-1", b"0", b"1", b"4", b"5", b"7fffffff"])
    return st.one_of(
        st.builds(lambda a, k: b"m%x,%x" % (a, k), _ADDRESSES, n),
        st.builds(lambda a, d: b"M%x,%x:" % (a, len(d) // 2) + d, _ADDRESSES, _HEXDATA),
        st.builds(lambda r: b"p%x" % r, small),
        st.builds(lambda r, d: b"P%x=" % r + d, small, _HEXDATA),
        st.builds(lambda d: b"G" + d, _HEXDATA),
        st.builds(lambda z, t, a, k: b"%s%d,%x,%x" % (z, t, a, k), st.sampled_from([b"Z", b"z"]),
                  st.integers(0, 4), _ADDRESSES, st.integers(0, 8)),
        st.builds(lambda op, t: b"H" + op + t, st.sampled_from([b"g", b"c"]), thread),
        st.builds(lambda t: b"T" + t, thread),
        st.builds(lambda t: b"qThreadExtraInfo," + t, thread),
        st.builds(lambda t: b"vCont;s:" + t, thread),
        st.builds(lambda o, k: b"qXfer:features:read:target.xml:%x,%x" % (o, k), n, n),
        st.builds(lambda c: b"qRcmd," + c.encode().hex().encode(), st.sampled_from(
            ["info registers", "x/4xg $sp", "calls", "filter", "explain 0x84000000", "help",
             "info vcpus", "continue", "run", "bogus", "x/s 0", "set $x0 = 1", ""])),
    )


@settings(max_examples=examples(150), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(requests=st.lists(_request(), min_size=1, max_size=8))
def test_fuzzed_requests_get_answers_and_the_stub_lives_on(traced, requests: list[bytes]) -> None:
    proc, client = traced
    for request in requests:
        reply = client.ask(request)
        assert not request.startswith(b"vCont") or reply[:1] in (b"T", b"W"), (request, reply)
    assert client.ask(b"qC").startswith(b"QC")
    assert proc.poll() is None


def test_hardware_breakpoints_stop_too(traced) -> None:
    _, client = traced
    _, symbols, _ = _elf()
    assert client.ask(b"Z1,%x,4" % symbols["report"]) == b"OK"
    assert client.ask(b"vCont;c") == b"T05thread:1;"
    assert _pc(client) == symbols["report"]
    assert client.ask(b"z1,%x,4" % symbols["report"]) == b"OK"
    assert client.ask(b"Z2,%x,4" % symbols["report"]) == b""  # watchpoints: not supported


def test_a_breakpoint_of_gdb_and_one_of_the_prompt_on_one_address_keep_each_other() -> None:
    proc, port = start("--gdb", "0", "psci-tour")
    try:
        _repl_line(proc, None)
        _, symbols, _ = _elf()
        client = Client(port)
        assert "Breakpoint 1" in _repl_line(proc, "break report")
        assert client.ask(b"Z0,%x,4" % symbols["report"]) == b"OK"
        _repl_line(proc, "delete 1")  # the prompt's goes; gdb's still stops the guest
        assert client.ask(b"vCont;c") == b"T05thread:1;"
        assert _pc(client) == symbols["report"]
        assert "Breakpoint 2" in _repl_line(proc, "break main")
        assert client.ask(b"z0,%x,4" % symbols["report"]) == b"OK"  # gdb's goes ...
        assert "breakpoint 2" in _repl_line(proc, "run")  # ... the prompt's on main stays
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_monitor_refuses_to_run_the_guest_behind_gdbs_back(traced) -> None:
    proc, client = traced
    assert "use gdb's continue" in client.monitor("continue")
    assert "use gdb's stepi" in client.monitor("si")
    assert "use gdb's detach or kill" in client.monitor("quit")
    assert "vCPU" in client.monitor("info vcpus")  # what does not run the guest runs
    assert "monitor help" in client.monitor("")  # not the prompt's repeat of its last command
    assert "use gdb's stepi" in client.monitor("'stepi'")  # however it is spelled
    assert client.ask(b"?") == b"T05thread:1;"  # still at the entry point
    client.raw(frame(b"k"))
    client.close()  # at once: the `k` read before the hang-up still counts
    status, _, err = finish(proc)
    assert status == 1 and "killed by gdb" in err
