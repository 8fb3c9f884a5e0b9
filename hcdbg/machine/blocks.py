"""Slices counted by translated blocks: a C hook per block instead of Unicorn's per-instruction count.

Why: several vCPUs that take exceptions or use their GIC run counted slices (machine.run:
a stop from another thread could drop an exception being delivered), and Unicorn counts
a slice's instructions with a hook on every instruction, about 8 times slower than running
uncounted (scripts/bench `smp4`; in a 4-vCPU Linux boot `perf` puts 15% of the time in the
count's helpers alone). `_native.c`'s `hc_block` is a UC_HOOK_BLOCK hook instead: each
block, as it starts, takes its instructions off the slice's budget; a block that starts with
the budget spent makes the hook call `uc_emu_stop` on its own thread, and Unicorn's check for
a stop, right after the hook at that block's start, ends the slice before any of the block
runs (tests/test_block_slices.py). No other thread stops the vCPU. A slice so counted runs
its budget plus the rest of the block it ran out in (a block is at most a page of code), and
always its first block, so only runs that need no exact count use it: not a budget
(`--max-insns`), not a step, not a deterministic interleaving (recording, replay,
`--deterministic`), which keep Unicorn's count.

The hook is added to a vCPU's engine the first time it runs such a slice (hooks apply at
translation: the engine drops its translated code then) and stays, doing nothing, while the
budget is not armed.
"""
from __future__ import annotations

import ctypes
import os
import weakref

from unicorn import UC_HOOK_BLOCK, Uc

from hcdbg.machine import callregs, exactstop, native


class _Budget(ctypes.Structure):
    """_native.c's hc_budget."""

    _fields_ = [("left", ctypes.c_int64), ("armed", ctypes.c_uint64), ("stop", ctypes.c_void_p)]


def _library() -> tuple[int | None, int | None]:
    """(hc_block's address, uc_emu_stop's), or Nones where there is no such path."""
    lib = native._LIB
    if lib is None or os.environ.get("HCDBG_BLOCK_SLICES", "1") == "0" or not exactstop.available():
        return None, None
    try:
        hook = ctypes.cast(lib.hc_block, ctypes.c_void_p).value
        stop = ctypes.cast(callregs._lib.uc_emu_stop, ctypes.c_void_p).value  # type: ignore[attr-defined]
    except AttributeError:  # an extension built before hc_block, or no library handle
        return None, None
    return (hook, stop) if hook and stop else (None, None)


_HOOK, _STOP = _library()
#: Instructions in a slice counted by blocks. Without an exact count to keep, longer slices
#: cost less (the run loop's work between slices is in Python): a 4-vCPU Linux boot to
#: power-off took 8.0-8.3 s with 50,000, 6.9-7.4 s with 100,000 and 6.1-7.9 s with 200,000-
#: 400,000 (wall time, `hcdbg trace`). QEMU's TCG lets a vCPU run up to 100 ms.
SLICE = 100_000


def available() -> bool:
    """Whether slices can be counted by blocks (the extension, and exact stops)."""
    return _HOOK is not None


class BlockBudget:
    """One vCPU's block-counted slices."""

    def __init__(self, uc: Uc) -> None:
        self._uc = weakref.ref(uc)
        self._budget = _Budget(0, 0, _STOP)
        self.hooked = False
        self.slices = 0  # slices counted by blocks so far (statistics, tests)

    def _hook(self, uc: Uc) -> bool:
        if not callregs.add_c_hook(uc, UC_HOOK_BLOCK, _HOOK, ctypes.addressof(self._budget)):
            return False
        uc.ctl_flush_tb()  # type: ignore[attr-defined]  # blocks translated before lack the hook
        self.hooked = True
        return True

    def arm(self, count: int) -> bool:
        """The next slice may start `count` instructions; False if this vCPU cannot count
        by blocks (then count with Unicorn)."""
        uc = self._uc()
        if uc is None or (not self.hooked and not self._hook(uc)):
            return False
        self._budget.left = count
        self._budget.armed = 1
        self.slices += 1
        return True

    def disarm(self) -> None:
        self._budget.armed = 0
