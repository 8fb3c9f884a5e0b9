"""Time slices for several vCPUs: a timer thread that ends the running vCPU's slice.

Counting instructions (`emu_start(count=N)`) makes Unicorn call a C hook on every
instruction, about 8 times slower (scripts/bench `smp4`). Like QEMU's single-threaded TCG,
which kicks its vCPU every 100 ms (TCG_KICK_PERIOD), the scheduler can instead run each
vCPU uncounted and have this thread `emu_stop` it after a while. The interleaving then
depends on the host's timing, so recorded and replayed runs count instructions instead.
"""
from __future__ import annotations

import threading
import time
from typing import Protocol


class _Stoppable(Protocol):
    def emu_stop(self) -> None: ...


class Preempter:
    """Ends a slice that has run for one to two periods. The thread runs only while slices
    are armed, and exits after a tick with nothing armed."""

    def __init__(self) -> None:
        self.period = 0.01
        self._lock = threading.Lock()
        self._uc: _Stoppable | None = None
        self._generation = 0
        self._thread: threading.Thread | None = None

    def arm(self, uc: _Stoppable, period: float) -> None:
        """A slice of `uc` starts now; it may last one to two `period`s (seconds)."""
        with self._lock:
            self._uc, self.period = uc, period
            self._generation += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._tick, name="hcdbg-preempt", daemon=True)
                self._thread.start()

    def disarm(self) -> None:
        """The slice ended by itself."""
        with self._lock:
            self._uc = None

    def _tick(self) -> None:
        seen = -1
        while True:
            time.sleep(self.period)
            with self._lock:
                if self._uc is None:
                    self._thread = None
                    return
                if self._generation == seen:  # the same slice as a tick ago: its time is up
                    self._uc.emu_stop()
                seen = self._generation
