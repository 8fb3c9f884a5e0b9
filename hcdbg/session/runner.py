"""Run a blocking engine call on a worker thread so Ctrl-C in the main thread can stop it.

A Python signal handler cannot run while `emu_start` is inside C with no Python hook, and a
KeyboardInterrupt raised inside a hook is swallowed (unicorn issues #945, #2129): the main
thread waits here, catches KeyboardInterrupt and calls `interrupt()` (emu_stop)."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


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
    interrupted = False
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
