"""Run an engine call on a worker thread so Ctrl-C in the main thread can interrupt it.

Same contract as session/runner.run_interruptible, but the main thread waits on an Event,
never on Thread.join: on CPython 3.11 a join() interrupted by KeyboardInterrupt marks the
thread as finished while it still runs (is_alive() turns False), so a join loop returns
before the run has stopped and without its result.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


def run_interruptible(fn: Callable[[], T], interrupt: Callable[[], None], poll: float = 0.05) -> T:
    """fn() on a worker thread; each KeyboardInterrupt here calls interrupt() (and it is
    called again every `poll` seconds until fn returns, as a stop request can race the
    start of the next run slice). Returns fn's value or raises its exception."""
    done = threading.Event()
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="hcdbg-run", daemon=True).start()
    interrupted = False
    while not done.is_set():
        try:
            done.wait(poll)
        except KeyboardInterrupt:
            interrupted = True
        if interrupted and not done.is_set():
            interrupt()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
