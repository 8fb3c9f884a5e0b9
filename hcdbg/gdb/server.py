"""The gdb stub's socket side: listening (loopback unless asked), one client at a time, and
the request loop that answers gdb's packets from a GdbTarget and runs the guest for it.

A reader thread turns the client's bytes into events (packets.py); a Ctrl-C byte or a
client gone stops a run in progress at once (the session's interrupt(), repeated as
run_interruptible does for a terminal Ctrl-C). `monitor LINE` runs LINE through the REPL's
Debugger with its output captured and sent back to gdb; a lock shared with the hcdbg prompt
lets one front end at a time use the session.
"""
from __future__ import annotations

import errno
import io
import queue
import socket
import threading
from enum import Enum
from typing import Callable

from hcdbg.errors import HcdbgError, UsageError
from hcdbg.gdb import packets as P
from hcdbg.gdb import requests as R
from hcdbg.gdb.target import TARGET_XML, GdbTarget, stop_reply
from hcdbg.render.context import call_fragments
from hcdbg.render.style import plain
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger
from hcdbg.session.runner import run_interruptible
from hcdbg.session.view import call_view
from hcdbg.stop import Stop, StopKind

LOOPBACK = "127.0.0.1"
#: REPL commands `monitor` does not run, and what to do instead: a run started behind
#: gdb's back would leave gdb showing registers and threads from before it.
_NOT_FROM_GDB = {
    "continue": "use gdb's continue", "stepi": "use gdb's stepi", "nexti": "use gdb's nexti",
    "run": "restart the guest at the hcdbg prompt", "reset": "restart the guest at the hcdbg prompt",
    "back": "go back at the hcdbg prompt", "quit": "use gdb's detach or kill",
}
_SUPPORTED = (b"PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+"
              % P.MAX_PACKET)


def parse_address(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` -> (host, port); host defaults to loopback. UsageError if malformed."""
    host, colon, port_text = text.rpartition(":")
    host = host.strip("[]") if colon else LOOPBACK
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--gdb {text}: expected [HOST:]PORT with PORT 0..65535")
    return host or LOOPBACK, int(port_text)


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port); UsageError if it cannot be
    made (a port in use, an address not on this machine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--gdb {host}:{port}: {exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1)
    except OSError as exc:
        sock.close()
        why = "port in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise UsageError(f"--gdb {host}:{port}: cannot listen: {why}") from None
    return sock


def open_listener(text: str) -> tuple[socket.socket, str, list[str]]:
    """The socket `--gdb TEXT` asks for, `host:port` it listens on, and warnings to show (a
    stub reachable from other machines: whoever connects controls the guest)."""
    host, port = parse_address(text)
    sock = listen(host, port)
    where = f"{host}:{int(sock.getsockname()[1])}"
    warnings = [] if is_loopback(host) else [
        f"warning: the gdb stub listens on {where}, not only on this machine: anyone who "
        "can reach it controls the guest (no authentication)"]
    return sock, where, warnings


def accept_one(sock: socket.socket, give_up: Callable[[], bool]) -> socket.socket | None:
    """Wait for one client (None once `give_up()` says so); then stop listening, so a
    second client is refused."""
    sock.settimeout(0.2)
    try:
        while True:
            try:
                conn, _ = sock.accept()
            except socket.timeout:
                if give_up():
                    return None
                continue
            conn.settimeout(None)
            return conn
    finally:
        sock.close()


class Outcome(Enum):
    """How a client's session ended."""

    DETACHED = "detached"  # D: the guest is left to its other front end
    KILLED = "killed"  # k
    GONE = "gone"  # the connection closed without D or k


def run_monitor(dbg: Debugger, line: str) -> str:
    """Run one REPL command line for `monitor`; what it printed (errors included). An empty
    line runs nothing (at the prompt it repeats the last command), and the prompt's
    Enter-repeat is left as it was."""
    from hcdbg.repl import commands

    if not line.strip() or line.strip().startswith("#"):
        return "monitor runs an hcdbg command: 'monitor help' lists them\n"
    try:
        cmd: commands.Command | None = commands.resolve(commands.split(line))[0]
    except HcdbgError:
        cmd = None  # onecmd reports it
    if cmd is not None and cmd.name in _NOT_FROM_GDB:
        return f"*** monitor {cmd.name}: not from gdb: {_NOT_FROM_GDB[cmd.name]}\n"
    repeat = dbg.last_repeat
    try:
        return captured(dbg, lambda: dbg.onecmd(line))
    finally:
        dbg.last_repeat = repeat


def captured(dbg: Debugger, action: Callable[[], object]) -> str:
    """What `action` prints through the debugger's console (uncoloured)."""
    buffer = io.StringIO()
    saved = dbg.console
    dbg.console = Console(buffer, color=False)
    try:
        action()
    finally:
        dbg.console = saved
    return buffer.getvalue()


class _Wire:
    """One client's socket: a reader thread turns its bytes into events; `send` frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        try:  # '+' then the reply are two small writes: without this, Nagle's algorithm
            # holds the reply until gdb's delayed ACK of the '+' (~90 ms per packet here)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a socketpair in tests)
        self.events: queue.Queue[P.Event | None] = queue.Queue()
        self.ctrl_c = threading.Event()  # set by a Ctrl-C byte or the client going away
        self.closed = threading.Event()
        self.ack = True
        self._last = b""
        threading.Thread(target=self._read, name="hcdbg-gdb-reader", daemon=True).start()

    def _read(self) -> None:
        reader = P.PacketReader()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for event in reader.feed(data):
                    if isinstance(event, P.Interrupt):
                        self.ctrl_c.set()
                    self.events.put(event)
        except OSError:
            pass
        finally:
            self.closed.set()
            self.ctrl_c.set()
            self.events.put(None)

    def raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed.set()

    def send(self, payload: bytes) -> None:
        self._last = P.frame(payload)
        self.raw(self._last)

    def resend(self) -> None:
        if self._last:
            self.raw(self._last)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Connection:
    """Serves one gdb client over `debugger`'s session until it detaches, kills or goes."""

    def __init__(self, sock: socket.socket, debugger: Debugger, lock: threading.RLock,
                 poll: Callable[[], bool] = lambda: False) -> None:
        self.wire = _Wire(sock)
        self.dbg = debugger
        self.session = debugger.session
        self.lock = lock
        self.target = GdbTarget(self.session)
        self.poll = poll  # True: give up (the user pressed Ctrl-C at hcdbg's terminal)
        self.g_vcpu = debugger.focus  # Hg: the vCPU registers and memory are read from
        self.c_thread: int | None = None  # Hc: the thread a plain `s` steps

    def serve(self) -> Outcome:
        try:
            return self._loop()
        finally:
            with self.lock:
                self.target.remove_all()
                self.session.breakpoints.others = set()
            self.wire.close()

    def _loop(self) -> Outcome:
        wire = self.wire
        while True:
            try:
                event = wire.events.get(timeout=0.2)
            except queue.Empty:
                if self.poll():
                    return Outcome.GONE
                continue
            if event is None:
                return Outcome.GONE
            if isinstance(event, P.Nack):
                if wire.ack:
                    wire.resend()
            elif isinstance(event, P.Corrupt):
                if wire.ack:
                    wire.raw(b"-")
            elif isinstance(event, P.Packet):
                if wire.ack:
                    wire.raw(b"+")
                outcome = self._packet(event.payload)
                if outcome is not None:
                    return outcome
            # A closed connection ends the loop only at the reader's None, after every
            # packet read before it: a client that sends `k` and hangs up was killing.

    def _packet(self, payload: bytes) -> Outcome | None:
        request = R.parse_request(payload)
        if isinstance(request, R.Detach):
            self.wire.send(b"OK")
            return Outcome.DETACHED
        if isinstance(request, R.Kill):
            if payload.startswith(b"vKill"):
                self.wire.send(b"OK")
            return Outcome.KILLED
        if isinstance(request, (R.Resume, R.VCont)):
            self._resume(request)
            return None
        if isinstance(request, R.Query) and request.name == "QStartNoAckMode":
            self.wire.send(b"OK")  # acknowledged as usual; from the next packet on, none
            self.wire.ack = False
            return None
        # The hcdbg prompt may be running the guest: answer at once with an error rather
        # than keep gdb waiting past its remote timeout (2 s by default), after which the
        # late reply would be taken for the answer to a later packet.
        if not self.lock.acquire(timeout=1.0):
            self.wire.send(b"E01")
            return None
        try:
            reply = self._answer(request)
        except HcdbgError:
            reply = b"E01"
        except Exception as exc:  # noqa: BLE001 - a bug in hcdbg must not end the session
            self._internal_error(exc)
            reply = b"E01"
        finally:
            self.lock.release()
        # gdb sends Ctrl-C only while it waits for a stop reply; one seen before this
        # reply is stray. One after it (gdb's next packet is a vCont) must stay seen, even
        # if it arrives before that vCont is taken from the queue: hence no clear there.
        if not self.wire.closed.is_set():
            self.wire.ctrl_c.clear()
        self.wire.send(reply)
        return None

    # --- requests that answer at once -----------------------------------------------------
    def _answer(self, r: R.Request) -> bytes:
        t = self.target
        if isinstance(r, R.Malformed):
            return b"E01"
        if isinstance(r, R.Halted):
            return stop_reply(self.session.last_stop, self.session)
        if isinstance(r, R.ReadRegisters):
            return t.read_registers(self.g_vcpu).hex().encode()
        if isinstance(r, R.WriteRegisters):
            return b"OK" if t.write_registers(self.g_vcpu, r.data) else b"E01"
        if isinstance(r, R.ReadRegister):
            data = t.read_register(self.g_vcpu, r.number)
            return b"E01" if data is None else data.hex().encode()
        if isinstance(r, R.WriteRegister):
            return b"OK" if t.write_register(self.g_vcpu, r.number, r.data) else b"E01"
        if isinstance(r, R.ReadMemory):
            return t.read_memory(self.g_vcpu, r.address, r.length).hex().encode()
        if isinstance(r, R.WriteMemory):
            t.write_memory(self.g_vcpu, r.address, r.data)
            return b"OK"
        if isinstance(r, R.Breakpoint):
            if r.type > 1:
                return b""  # watchpoints: not supported
            if r.insert:
                t.insert_breakpoint(r.address)
            else:
                t.remove_breakpoint(r.address)
            return b"OK"
        if isinstance(r, R.SetThread):
            if r.op == "g":
                self.g_vcpu = t.vcpu_of(r.thread, self.g_vcpu)
            else:
                self.c_thread = None if r.thread <= 0 else t.vcpu_of(r.thread, 0) + 1
            return b"OK"
        if isinstance(r, R.ThreadAlive):
            return b"OK" if 1 <= r.thread <= len(t.threads) else b"E01"
        if isinstance(r, R.Monitor):
            text = run_monitor(self.dbg, r.command)
            for packet in P.console_packets(text):
                self.wire.send(packet)
            return b"OK"
        if isinstance(r, R.ReadFeatures):
            if r.annex != "target.xml":
                return b"E00"
            return P.xfer_reply(TARGET_XML, r.offset, r.length)
        if isinstance(r, R.Query):
            return self._query(r)
        return b""

    def _query(self, q: R.Query) -> bytes:
        t = self.target
        if q.name == "qSupported":
            return _SUPPORTED
        if q.name == "qAttached":
            return b"1"
        if q.name == "qC":
            return b"QC%x" % (self.g_vcpu + 1)
        if q.name == "qfThreadInfo":
            return b"m" + b",".join(b"%x" % n for n in t.threads)
        if q.name == "qsThreadInfo":
            return b"l"
        if q.name == "qThreadExtraInfo":
            thread = R.hex_number(q.args, "thread", 0x7FFF_FFFF)
            if isinstance(thread, str) or not 1 <= thread <= len(t.threads):
                return b"E01"
            return P.hex_text(t.thread_text(thread))
        if q.name == "vCont?":
            return b"vCont;c;C;s;S"
        if q.name == "qSymbol":
            return b"OK"
        return b""

    def _internal_error(self, exc: Exception) -> None:
        """A bug in hcdbg while answering gdb: shown at hcdbg's console (the traceback with
        --debug); the client gets an error reply and the session goes on."""
        import traceback

        if self.dbg.debug:
            self.dbg.console.error(traceback.format_exc().rstrip())
        self.dbg.error(f"gdb stub: internal error: {type(exc).__name__}: {exc}")

    # --- running the guest for gdb ----------------------------------------------------------
    def _resume(self, request: R.Resume | R.VCont) -> None:
        actions = request.actions if isinstance(request, R.VCont) else (
            R.Resume(request.step, self.c_thread),)
        step = next((a for a in actions if a.step), None)
        session, dbg = self.session, self.dbg
        with self.lock:
            try:
                if step is not None:
                    vcpu = self.target.vcpu_of(step.thread, self.g_vcpu)
                    run: Callable[[], Stop] = lambda: session.step(vcpu, 1)
                else:
                    run = lambda: session.cont(dbg.max_insns)
                dbg.current_run.started = True
                dbg.elsewhere = "gdb runs the guest (Ctrl-C in gdb stops it)"
                try:
                    stop = run_interruptible(run, session.interrupt, asked=self.wire.ctrl_c)
                finally:
                    dbg.elsewhere = None
            except Exception as exc:  # noqa: BLE001 - no answer for the call yet, a guest
                if not isinstance(exc, HcdbgError):  # that cannot go on; or a bug in hcdbg
                    self._internal_error(exc)
                    exc = HcdbgError(f"internal error: {type(exc).__name__}: {exc}")
                for packet in P.console_packets(f"*** {exc}\n"):
                    self.wire.send(packet)
                if not self.wire.closed.is_set():
                    self.wire.ctrl_c.clear()
                self.wire.send(stop_reply(session.last_stop, session))
                return
            if 0 <= stop.vcpu < len(session.machine.vcpus):
                dbg.focus = self.g_vcpu = stop.vcpu
            note = ""
            if stop.kind is StopKind.CALL and session.pending is not None:
                captured(dbg, lambda: dbg.after_stop(stop))  # the REPL's bookkeeping
                view = call_view(session, session.pending)  # the call, not the registers:
                note = plain(call_fragments(view, session.machine.image.symbols))  # gdb has them
                title = session.pending.title
                note += (f"hcdbg: forwarded call {title}: answer it with 'monitor reply "
                         "VALUE', 'monitor handle' or 'monitor deny', then continue\n")
            elif stop.kind is StopKind.RESET:
                captured(dbg, lambda: dbg.after_stop(stop))  # a new run for the REPL
                note = f"hcdbg: {stop.reason}: the guest starts again at its entry point\n"
            elif stop.kind in (StopKind.FAULT, StopKind.HALTED, StopKind.POWER_OFF,
                               StopKind.MAX_INSNS, StopKind.EXCEPTION):
                note = f"hcdbg: {stop.kind.value}: {stop.reason}\n"
        for packet in P.console_packets(note):
            self.wire.send(packet)
        if not self.wire.closed.is_set():
            self.wire.ctrl_c.clear()
        self.wire.send(stop_reply(stop, session))


class Stub:
    """A listening stub for the REPL: a thread accepts clients and serves one at a time;
    a second client while one is served is turned away (its connection closed)."""

    def __init__(self, sock: socket.socket, debugger: Debugger) -> None:
        self.sock = sock
        self.dbg = debugger
        self.lock = threading.RLock()
        debugger.guard = self.lock
        self._busy = threading.Event()
        threading.Thread(target=self._accept, name="hcdbg-gdb", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self._busy.is_set():
                conn.close()
                continue
            self._busy.set()
            threading.Thread(target=self._serve, args=(conn,), name="hcdbg-gdb-client",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            Connection(conn, self.dbg, self.lock).serve()
        finally:
            self._busy.clear()
