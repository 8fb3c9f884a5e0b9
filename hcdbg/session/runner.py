"""Run a blocking engine call on a worker thread so Ctrl-C in the main thread can stop it.

A Python signal handler cannot run while `emu_start` is inside C with no Python hook, and a
KeyboardInterrupt raised inside a hook is swallowed (unicorn issues #945, #2129): the main
thread waits here, catches KeyboardInterrupt and calls `interrupt()` (emu_stop)."""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Callable, TypeVar

T = TypeVar("T")
_requested = threading.Event()  # a Ctrl-C seen by catch_sigint's handler


def catch_sigint() -> None:
    """For commands without a prompt (trace, replay): remember every Ctrl-C, so that one
    which arrives before a run starts still stops it. Start-up runs Unicorn hooks on this
    thread (the engine probes), and a KeyboardInterrupt raised inside a hook is swallowed:
    without the flag that Ctrl-C was lost and the guest ran on."""
    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        _requested.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def run_interruptible(fn: Callable[[], T], interrupt: Callable[[], None], poll: float = 0.05) -> T:
    """fn() on a worker thread; KeyboardInterrupt here calls interrupt() until fn returns."""
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="hcdbg-run", daemon=True)
    worker.start()
    interrupted = _requested.is_set()
    # Wait on an Event, not Thread.join: a join interrupted by KeyboardInterrupt can leave
    # the thread looking finished while it still runs (CPython gh-90882).
    while not done.is_set():
        try:
            done.wait(poll)
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            interrupt()  # repeated: a stop request can race the start of the next slice
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
