"""Fast access to x0..x17, the registers of every HVC/SMC: one C call instead of 18.

The Python binding's reg_read costs about 2 us a register (argument dispatch in Python); a
trap reads 18 of them. `uc_reg_read_batch` over buffers allocated once per vCPU does the
same in one ctypes call. It uses the binding's loaded library handle (`uclib`, `_uch`),
which is not public API: if a future binding moves them, we fall back to reg_read.
"""
from __future__ import annotations

import ctypes
import struct

from unicorn import Uc
from unicorn import arm64_const as A

from hcdbg.machine.registers import CALL_REGS

_uclib: ctypes.CDLL | None
try:  # pragma: no cover - depends on the installed binding's layout
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover
    _uclib = None

_IDS = CALL_REGS + (A.UC_ARM64_REG_PC,)
_N = len(_IDS)
_UNPACK = struct.Struct(f"<{_N}Q").unpack_from  # faster than iterating a ctypes array
_PACK = [struct.Struct(f"<{n}Q").pack_into for n in range(_N + 1)]


class CallRegs:
    """Read all of x0..x17 and PC, write some of x0..x17, for one Unicorn instance."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._ids = (ctypes.c_int * _N)(*_IDS)
        self._vals = (ctypes.c_uint64 * _N)()
        self._ptrs = (ctypes.c_void_p * _N)(*(ctypes.addressof(self._vals) + 8 * i for i in range(_N)))
        handle = getattr(uc, "_uch", None)
        self._fast = _uclib is not None and handle is not None
        self._handle = handle
        self._write_ids: dict[tuple[int, ...], ctypes.Array] = {}

    def read(self) -> tuple[tuple[int, ...], int]:
        """(x0..x17 as 64-bit values, PC)."""
        if self._fast and _uclib is not None:
            if _uclib.uc_reg_read_batch(self._handle, self._ids, self._ptrs, _N) == 0:
                vals = _UNPACK(self._vals)
                return vals[:-1], vals[-1]
        read = self._uc.reg_read
        return tuple(read(r) for r in CALL_REGS), read(A.UC_ARM64_REG_PC)

    def write(self, regs: dict[int, int]) -> None:
        """Write register n (0..17) := value for each item."""
        count = len(regs)
        if self._fast and count and _uclib is not None:
            key = tuple(regs)
            ids = self._write_ids.get(key)
            if ids is None:
                ids = self._write_ids[key] = (ctypes.c_int * count)(*(CALL_REGS[n] for n in key))
            _PACK[count](self._vals, 0, *[v & 0xFFFF_FFFF_FFFF_FFFF for v in regs.values()])
            if _uclib.uc_reg_write_batch(self._handle, ids, self._ptrs, count) == 0:
                return
        write = self._uc.reg_write
        for n, value in regs.items():
            write(CALL_REGS[n], value & 0xFFFF_FFFF_FFFF_FFFF)
