"""Run a blocking engine call on a worker thread so Ctrl-C in the main thread can stop it.

A Python signal handler cannot run while `emu_start` is inside C with no Python hook, and a
KeyboardInterrupt raised inside a hook is swallowed (unicorn issues #945, #2129): the main
thread waits here and calls `interrupt()` (emu_stop) once a Ctrl-C has come.

While the worker runs, SIGINT only takes note: a KeyboardInterrupt raised then could leave
this function with the worker still inside `emu_start`, and the exit that follows frees the
Unicorn handle under it (issue 14: SIGSEGV, "corrupted double-linked list")."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Callable, TypeVar

T = TypeVar("T")
#: A Ctrl-C seen since catch_sigint() (commands without a prompt): it ends the command.
_requested = threading.Event()
_remembering = False  # whether catch_sigint() was called


def catch_sigint() -> None:
    """For commands without a prompt (trace, replay): remember every Ctrl-C, so that one
    which arrives before a run starts, or between two runs (a guest that resets), stops
    the run at once. The first Ctrl-C raises nothing: start-up runs Unicorn hooks on this
    thread (the engine probes), which swallow a KeyboardInterrupt, and imports whose
    callbacks print it as "Exception ignored" with a traceback. A second one raises
    KeyboardInterrupt, should start-up be stuck."""
    global _remembering

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()

    _remembering = True
    signal.signal(signal.SIGINT, on_sigint)


def interrupt_requested() -> bool:
    """Whether a Ctrl-C has come since catch_sigint() (never true without it)."""
    return _requested.is_set()


@contextmanager
def sigint_noted(asked: threading.Event | None = None) -> Iterator[threading.Event]:
    """While inside: Ctrl-C sets the event (and, after catch_sigint(), the request that ends
    the command) instead of raising KeyboardInterrupt. Only the main thread has signal
    handlers; elsewhere nothing changes."""
    asked = asked if asked is not None else threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return

    def note(_signum: int, _frame: FrameType | None) -> None:
        asked.set()
        if _remembering:
            _requested.set()

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield asked
    finally:
        # None: a handler not set from Python; Python's own then (Ctrl-C raises again).
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def run_interruptible(fn: Callable[[], T], interrupt: Callable[[], None], poll: float = 0.05,
                      asked: threading.Event | None = None) -> T:
    """fn() on a worker thread; after a Ctrl-C, interrupt() is called until fn returns.
    Nothing (no KeyboardInterrupt) leaves here before the worker has finished. `asked`: the
    event a Ctrl-C sets (a caller's, that runs several times: it sees one between runs)."""
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            box["error"] = exc
        finally:
            done.set()

    with sigint_noted(asked) as ctrl_c:
        if _requested.is_set():
            ctrl_c.set()
        worker = threading.Thread(target=work, name="hcdbg-run", daemon=True)
        worker.start()
        # Wait on an Event, not Thread.join: a join interrupted by KeyboardInterrupt can
        # leave the thread looking finished while it still runs (CPython gh-90882).
        while not done.wait(poll):
            if ctrl_c.is_set():
                interrupt()  # repeated: a stop request can race the start of the next slice
        worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
