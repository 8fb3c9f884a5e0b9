"""A minimal GDB remote protocol client for the stub's tests, written from the GDB manual
(packets, acks, `O` console output), and a way to start hcdbg with --gdb on a free port."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_WHERE = re.compile(r"(127\.0\.0\.1|0\.0\.0\.0):(\d+)")


def checksum(payload: bytes) -> bytes:
    return b"%02x" % (sum(payload) & 0xFF)


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + checksum(payload)


class Client:
    """Sends packets, acknowledges replies, collects `O` output; generous timeouts."""

    def __init__(self, port: int, timeout: float = 60) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as gdb does
        self.buffer = b""
        self.output = ""  # text of the O packets received so far

    def close(self) -> None:
        self.sock.close()

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the stub closed the connection")
        self.buffer += data

    def packet(self) -> bytes:
        """The next packet from the stub (acks and other bytes before it skipped), checked
        and acknowledged; `O` packets are collected into `output` and skipped."""
        while True:
            start = self.buffer.find(b"$")
            end = self.buffer.find(b"#", start + 1) if start >= 0 else -1
            if start < 0 or end < 0 or len(self.buffer) < end + 3:
                self._fill()
                continue
            payload = self.buffer[start + 1:end]
            assert self.buffer[end + 1:end + 3] == checksum(payload), self.buffer
            self.buffer = self.buffer[end + 3:]
            self.raw(b"+")
            if payload.startswith(b"O") and payload != b"OK":
                self.output += bytes.fromhex(payload[1:].decode()).decode()
                continue
            return payload

    def ask(self, payload: bytes) -> bytes:
        self.raw(frame(payload))
        return self.packet()

    def monitor(self, line: str) -> str:
        before = len(self.output)
        assert self.ask(b"qRcmd," + line.encode().hex().encode()) == b"OK"
        return self.output[before:]


def start(*args: str, cwd: Path = ROOT) -> tuple[subprocess.Popen, int]:
    """`python -m hcdbg ARGS` (with --gdb 0 among them); the process and the port it
    listens on, read from what it prints (the lines up to that one: `proc.seen`)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "hcdbg", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert proc.stderr is not None and proc.stdout is not None
    trace = args[:1] == ("trace",)
    stream = proc.stderr if trace else proc.stdout
    deadline = time.monotonic() + 120
    seen = b""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
        m = _WHERE.search(line.decode())
        if m:
            proc.seen = seen.decode(errors="replace")  # type: ignore[attr-defined]
            return proc, int(m[2])
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"hcdbg did not say where it listens: {seen!r} {out!r} {err!r}")


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    """Wait for the process; (exit status, stdout, stderr)."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
