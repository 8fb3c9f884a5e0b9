"""Ctrl-C is never lost and never crashes hcdbg (issue 14, crash 3): a guest in a
SYSTEM_RESET loop restarts many times a second, so a Ctrl-C lands between two runs, as one
ends, or while the worker thread is inside Unicorn."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, guest
from hcdbg.cli.trace import run_to_end
from hcdbg.machine import loader
from hcdbg.session.runner import run_interruptible
from hcdbg.session.session import Session
from hcdbg.stop import StopKind


def test_a_second_ctrl_c_during_interrupt_does_not_leave_the_worker_running() -> None:
    # The second Ctrl-C comes while the main thread is asking the run to stop: it used to
    # raise KeyboardInterrupt there and leave run_interruptible with the worker still in
    # emu_start, whose handle the exit then freed (SIGSEGV).
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def work() -> str:
        started.set()
        release.wait(10)
        finished.append(True)
        return "done"

    def interrupt() -> None:
        if not release.is_set():
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again
            time.sleep(0.01)  # the handler runs here, in the main thread
            release.set()

    threading.Timer(0.1, lambda: started.wait(10) and os.kill(os.getpid(), signal.SIGINT)).start()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run_interruptible(work, interrupt)
    except KeyboardInterrupt:
        release.set()
        pytest.fail("KeyboardInterrupt left run_interruptible while the worker ran")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result == "done" and finished == [True]


def test_ctrl_c_as_a_run_ends_in_a_reset_stops_the_reset_loop() -> None:
    # The Ctrl-C comes during the guest's SYSTEM_RESET call; that run ends in the reset, and
    # the next run (the restarted guest) used to clear the request: the guest ran on.
    session = Session(loader.load(guest("reset")))
    session.on_record = lambda rec: os.kill(os.getpid(), signal.SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stop = run_to_end(session, 2_000_000, None)  # the bound: a lost Ctrl-C ends at it
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt left the run (the worker may still be running)")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stop.kind is StopKind.INTERRUPT, stop
    assert len(session.history) == 1  # the first boot's SYSTEM_RESET, then no other


def _wait_for_output(proc: subprocess.Popen[bytes]) -> None:
    """Until the guest has booted once (its UART's first line)."""
    assert proc.stdout is not None
    if not proc.stdout.readline():
        pytest.fail("hcdbg trace reset printed nothing")


def test_ctrl_c_on_a_guest_in_a_reset_loop_always_ends_it_with_130() -> None:
    # 20 Ctrl-Cs at spread-out moments of the loop: each must end hcdbg with "interrupted"
    # and 130 (it was SIGSEGV or heap corruption in 3 of 20, a lost Ctrl-C in 7 of 20).
    failures = []
    for trial in range(20):
        proc = subprocess.Popen([sys.executable, "-m", "hcdbg", "trace", "reset"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        try:
            _wait_for_output(proc)
            time.sleep(0.03 * trial)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures.append(f"trial {trial}: the Ctrl-C was lost (the guest ran on)")
            continue
        text = err.decode(errors="replace")
        if proc.returncode != 130 or "interrupted" not in text or "Traceback" in text:
            failures.append(f"trial {trial}: exit {proc.returncode}: {text[-300:]!r}")
    assert not failures, "\n".join(failures)
