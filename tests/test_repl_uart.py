"""Typing into the guest's console from the REPL: `uart send TEXT`."""
from __future__ import annotations

from conftest import run_hcdbg


def test_uart_send_reaches_the_guest_and_uart_shows_its_answer() -> None:
    r = run_hcdbg("--batch", "-ex", r'uart send "hi there\n"', "-ex", "c", "-ex", "uart", "echo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "9 byte(s) queued" in r.stdout  # "hi there" and a newline
    assert r.stdout.count("echo: hi there") == 2  # while running, then from `uart`


def test_uart_send_without_text_is_a_usage_error() -> None:
    r = run_hcdbg("--batch", "-ex", "uart send", "echo")
    assert r.returncode == 1
    assert "***" in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr
