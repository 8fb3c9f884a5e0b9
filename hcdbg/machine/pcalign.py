"""PC alignment faults: a branch to an address that is not a multiple of 4 (BR, BLR, RET,
ERET with such a target) faults at the target before anything there runs, EC 0x22, as
QEMU 7.2 does (ESR 0x8a000000, ELR = FAR = the target: Arm ARM D1.3.5 "PC alignment
checking"; guests/exceptions.S shows it against QEMU).

Unicorn 2.1 (QEMU 5.0) has no such check: it translates and runs whatever the misaligned
bytes decode to. Its EDGE_GENERATED hook runs when a block has been translated, before it
runs; the hook notes a misaligned start and stops the vCPU, so the block never runs
(a stop is checked at the start of each block), and the machine drops the block and
delivers the fault (machine.py). `_sysreg.c` filters the calls in C; without it a Python
hook looks at every new block (slower start-up, same results).
"""
from __future__ import annotations

import ctypes

from unicorn import UC_HOOK_EDGE_GENERATED, Uc

from hcdbg.machine import callregs
from hcdbg.machine.sysreg import _native_filter

_FILTER = _native_filter("hcdbg_misaligned_filter")
_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p)


class _Edge(ctypes.Structure):
    """_sysreg.c hc_edge_filter."""

    _fields_ = [("callback", ctypes.c_void_p), ("user", ctypes.c_void_p)]


class MisalignedPc:
    """Watches one vCPU for blocks at misaligned addresses; `pc` is the one seen last
    (None: none since `take`)."""

    def __init__(self, uc: Uc) -> None:
        self.pc: int | None = None
        #: Whether the vCPU has yet to run a block: Unicorn calls the hook only once one has
        #: run (it passes the previous block), so the first one is checked by the machine.
        self.fresh = True
        self._uc = uc
        self._keep: list[object] = []  # what libunicorn points to
        if _FILTER is not None:
            cb = _CALLBACK(lambda _uc, pc, _ud: self._seen(pc))
            flt = _Edge(ctypes.cast(cb, ctypes.c_void_p).value, None)
            if callregs.add_c_hook(uc, UC_HOOK_EDGE_GENERATED, _FILTER, ctypes.addressof(flt)):
                self._keep = [cb, flt]
                return
        uc.hook_add(UC_HOOK_EDGE_GENERATED,
                    lambda _uc, cur, _prev, _ud: self._seen(cur.pc) if cur.pc & 3 else None)

    def _seen(self, pc: int) -> None:
        self.pc = pc
        self._uc.emu_stop()  # before the block runs: the stop is checked at its start

    def take(self) -> int | None:
        """The misaligned PC seen in the last slice, if any; its block is dropped, so the
        next branch there is translated (and caught) again."""
        pc, self.pc = self.pc, None
        if pc is not None:
            end = min(pc + 4, (1 << 64) - 1)  # a PC at the top of the address space (--entry)
            if end > pc:
                self._uc.ctl_remove_cache(pc, end)
        return pc
