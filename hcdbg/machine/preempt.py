"""Time slices for several vCPUs, and timer deadlines: a thread that ends the running slice.

Counting instructions (`emu_start(count=N)`) makes Unicorn call a C hook on every
instruction, about 8 times slower (scripts/bench `smp4`). Like QEMU's single-threaded TCG,
which kicks its vCPU every 100 ms (TCG_KICK_PERIOD), the scheduler can instead run each
vCPU uncounted and have this thread `emu_stop` it after a while: at the end of its time
slice, or when one of its timers is due (interrupts.py). The interleaving then depends on
the host's timing, so recorded and replayed runs count instructions instead.
"""
from __future__ import annotations

import threading
import time
from typing import Protocol


#: Seconds between repeated stops of a slice that has not ended yet (see _run).
_RETRY = 0.002


class _Stoppable(Protocol):
    def emu_stop(self) -> None: ...


class Preempter:
    """Ends a slice at a deadline. The thread runs only while slices are armed, and exits
    after a second with nothing armed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._uc: _Stoppable | None = None
        self._deadline = 0.0
        self._fired = False
        self._thread: threading.Thread | None = None

    def arm(self, uc: _Stoppable, seconds: float) -> None:
        """A slice of `uc` starts now; stop it `seconds` from now unless disarmed first."""
        with self._cond:
            self._uc, self._deadline, self._fired = uc, time.monotonic() + seconds, False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hcdbg-preempt", daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self) -> bool:
        """The slice ended; returns whether this thread ended it."""
        with self._cond:
            self._uc = None
            fired, self._fired = self._fired, False
            return fired

    @property
    def fired(self) -> bool:
        """Whether this thread has ended the slice armed last (before `disarm`)."""
        return self._fired

    def _run(self) -> None:
        with self._cond:
            while True:
                if self._uc is None:
                    if not self._cond.wait(1.0) and self._uc is None:
                        self._thread = None
                        return
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                # uc_emu_start clears a stop request as it begins (Unicorn 2.1.4 uc.c), so a
                # stop that lands before the slice is inside Unicorn (a loaded host can delay
                # the run thread past a 1 ms deadline) is lost, and the slice would run on
                # until something else stopped it: repeat the stop until the run loop
                # disarms, which it does as soon as the slice has returned.
                self._uc.emu_stop()
                self._fired = True
                self._deadline = time.monotonic() + _RETRY
