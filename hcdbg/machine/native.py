"""The native call path: the trap's fast path (fastcalls.py) in C, as the interrupt hook.

A vCPU's UC_HOOK_INTR hook is `_native.c`'s `hc_intr` when the compiled extension is there
(and HCDBG_NATIVE is not 0): it answers the calls of a table the session fills as the
Python fast path's (Session._learn), and hands everything else to the Python hook
(Traps._on_intr) with the same arguments, so exactly one hook is registered per vCPU.
The calls it answers wait in a fixed-size C buffer until `drain` appends them to the call
history's buffers (CallHistory.buffers()), exactly as the Python fast path would have:
Traps._on_intr drains before anything else, and Machine._emulate after every emu_start,
so the history's order is the order of the calls. With the buffer full, calls go to
Python (which drains first). Without the extension everything is as before: the Python
hook is registered itself.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import weakref
from array import array
from typing import Any, Callable

from unicorn import UC_HOOK_INTR, Uc
from unicorn import arm64_const as arm64

from hcdbg.machine import board, callregs, cpuregs
from hcdbg.machine.registers import CALL_REGS

#: Calls answered in C between two drains (160 bytes each).
CAPACITY = 16384
_BLOCK = 152  # x0..x17 and PC: history.REGS.size
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


class _Header(ctypes.Structure):
    """The first fields of _native.c's hc_native."""

    _fields_ = [("records", ctypes.c_uint64), ("capacity", ctypes.c_uint64),
                ("enabled", ctypes.c_uint64), ("answered", ctypes.c_uint64),
                ("out_blocks", ctypes.c_uint64), ("out_regs", ctypes.c_void_p),
                ("out_which", ctypes.c_void_p), ("out_tails", ctypes.c_void_p)]


def _load() -> tuple[Any, str]:
    """(the extension as a ctypes library, or None; why not)."""
    if os.environ.get("HCDBG_NATIVE", "1") == "0":
        return None, "HCDBG_NATIVE=0"
    if callregs._read_batch is None or callregs._hook_add is None:  # pragma: no cover
        return None, "this Unicorn binding has no library handle"
    if array("I").itemsize != 4 or array("Q").itemsize != 8:  # pragma: no cover
        return None, "unusual array sizes"
    spec = importlib.util.find_spec("hcdbg.machine._native")
    if spec is None or spec.origin is None or not spec.origin.endswith((".so", ".pyd")):
        return None, "the extension was not built (no C compiler at install)"
    try:
        lib = ctypes.CDLL(spec.origin)
        p, u64, i = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
        for name, args, res in (("hc_new", (p, p, p, u64), p), ("hc_free", (p,), None),
                                ("hc_set_ram", (p, p, u64, u64), None),
                                ("hc_vcpu_of", (p, u64, p), p), ("hc_vcpu_direct", (p, p), None),
                                ("hc_clear", (p,), None),
                                ("hc_learn", (p, i, u64, i, p, p, u64), i),
                                ("hc_drain", (p, ctypes.c_char_p, u64), u64)):
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
        lib.hook_address = ctypes.cast(lib.hc_intr, ctypes.c_void_p).value
    except (OSError, AttributeError) as exc:  # pragma: no cover
        return None, f"the extension cannot be loaded ({exc})"
    return lib, ""


_LIB, WHY_NOT = _load()
#: Whether machines made from now on use the native path (tests turn it off in-process).
ENABLED = _LIB is not None
#: Whether it reads and writes registers in place (cpuregs.py) where it can; else through
#: the batch API (tests compare the two).
DIRECT = True
_IDS = (ctypes.c_int * 19)(*CALL_REGS, arm64.UC_ARM64_REG_PC)


def available() -> bool:
    return ENABLED and _LIB is not None


class _Owner:
    """The C state, freed when the last Unicorn instance whose hook points into it is gone
    (weakref.finalize on each: no Uc can call the hook after that)."""

    def __init__(self, address: int) -> None:
        self.address = address
        self.users = 0

    def release(self) -> None:
        self.users -= 1
        if self.users == 0 and self.address:
            _LIB.hc_free(self.address)
            self.address = 0


class NativeCalls:
    """One machine's native call path: its table of answers, its buffer of calls answered."""

    def __init__(self, ram: ctypes.Array, ram_size: int) -> None:
        assert _LIB is not None
        address = _LIB.hc_new(ctypes.cast(callregs._read_batch, ctypes.c_void_p),
                              ctypes.cast(callregs._write_batch, ctypes.c_void_p), _IDS, CAPACITY)
        if not address:
            raise MemoryError("the native call path's buffers")
        self._owner = _Owner(address)
        self._address = address
        self.header = _Header.from_address(address)
        _LIB.hc_set_ram(address, ctypes.addressof(ram), board.RAM_BASE, ram_size)
        self._target: tuple[bytearray, array, array] | None = None
        #: Whether the hook reads and writes the registers in place (cpuregs.py).
        self.direct = False

    def hook(self, uc: Uc, python: Callable[[int, int, int], None], index: int) -> object | None:
        """Register the C hook as vCPU `index`'s UC_HOOK_INTR hook, handing what it does not
        answer to `python(handle, intno, index)`. Returns the ctypes objects to keep alive
        as long as `uc` (None: not registered; register the Python hook instead)."""
        thunk = callregs._INTR_CALLBACK(python)
        vcpu = _LIB.hc_vcpu_of(self._address, index, ctypes.cast(thunk, ctypes.c_void_p))
        if not vcpu or not callregs.add_c_hook(uc, UC_HOOK_INTR, _LIB.hook_address, vcpu):
            return None
        xregs = cpuregs.address(uc) if DIRECT else None
        if xregs is not None:
            _LIB.hc_vcpu_direct(vcpu, xregs)
        self.direct = xregs is not None
        self._owner.users += 1
        weakref.finalize(uc, self._owner.release).atexit = False
        return thunk

    @property
    def live(self) -> bool:
        """Whether this run's calls may be answered in C."""
        return bool(self.header.enabled)

    def arm(self, regs: bytearray, which: array, tails: array) -> None:
        """Before a run: answer from an empty table, record into these history buffers."""
        self.drain()
        _LIB.hc_clear(self._address)
        self._target = (regs, which, tails)
        self.header.enabled = 1

    def disarm(self) -> None:
        """Before a run: everything to Python."""
        self.drain()
        self.header.enabled = 0
        _LIB.hc_clear(self._address)
        self._target = None

    def learn(self, smc: bool, x0: int, regs: dict[int, int], tail: int) -> bool:
        """Answer calls with this x0 and conduit by writing `regs` (register n (0..17) ->
        value), recording `tail` (fastcalls.tail_word but for immediate and vCPU)."""
        if not self.header.enabled or not regs or len(regs) > 18:
            return False
        ids = (ctypes.c_int * len(regs))(*(CALL_REGS[n] for n in regs))
        vals = (ctypes.c_uint64 * len(regs))(*(v & _MASK64 for v in regs.values()))
        return _LIB.hc_learn(self._address, int(smc), x0 & _MASK64, len(regs), ids, vals, tail) == 0

    def drain(self) -> None:
        """Append the calls answered in C to the history's buffers, as fastcalls.fast_path
        does (a block only when the registers differ from the last block)."""
        header = self.header
        if not header.records:
            return
        target = self._target
        assert target is not None, "calls answered natively with no history to put them in"
        regs, which, tails = target
        last = bytes(regs[-_BLOCK:]) if regs else None
        n = _LIB.hc_drain(self._address, last, len(regs) // _BLOCK)
        regs += ctypes.string_at(header.out_regs, header.out_blocks * _BLOCK)
        which.frombytes(ctypes.string_at(header.out_which, 4 * n))
        tails.frombytes(ctypes.string_at(header.out_tails, 8 * n))

    @property
    def answered(self) -> int:
        """Calls answered in C so far."""
        return int(self.header.answered)
