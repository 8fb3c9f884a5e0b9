"""The trap's fast paths into libunicorn: its interrupt hook, and x0..x17 in one C call.

The Python binding's reg_read/reg_write cost about 3 us a register (argument dispatch in
Python, then ctypes converting to its declared pointer types); a trap reads 18 of them.
`uc_reg_read_batch`/`uc_reg_write_batch` over buffers allocated once per vCPU, called
through our own function objects whose arguments are plain addresses, take about 1 us.
Likewise the binding runs each hook through two Python layers of its own (0.5 us); the
interrupt hook is registered with libunicorn directly. (Measured with the profile of
scripts/bench `calls`, issue 6.) This needs the binding's library path and instance
handle (`uclib._name`, `_uch`), which are not public API: if a future binding moves them,
we fall back to reg_read/reg_write and hook_add.
"""
from __future__ import annotations

import ctypes
import struct
from typing import Any, Callable, NamedTuple, Tuple, Union

from unicorn import UC_HOOK_INTR, Uc
from unicorn import arm64_const as arm64

from hcdbg.machine.registers import CALL_REGS

_read_batch: Any = None
_write_batch: Any = None
_hook_add: Any = None
_context_save: Any = None
try:  # pragma: no cover - depends on the installed binding's layout
    from unicorn.unicorn_py3.unicorn import uclib as _uclib

    # A second handle on the already-loaded library (dlopen shares it) so that our
    # function objects can declare plain-address arguments without touching the binding's.
    _lib = ctypes.CDLL(_uclib._name)
    _read_batch, _write_batch = _lib.uc_reg_read_batch, _lib.uc_reg_write_batch
    for _fn in (_read_batch, _write_batch):
        # uc_err uc_reg_{read,write}_batch(uc_engine *uc, int *regs, void **vals, int count)
        _fn.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        _fn.restype = ctypes.c_int
    # uc_err uc_context_save(uc_engine *uc, uc_context *context): a saved context refreshed
    _context_save = _lib.uc_context_save
    _context_save.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
    _context_save.restype = ctypes.c_int
    _hook_add = _lib.uc_hook_add
    # uc_err uc_hook_add(uc_engine *uc, uc_hook *hh, int type, void *callback,
    #                    void *user_data, uint64_t begin, uint64_t end, ...)
    _hook_add.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)
    _hook_add.restype = ctypes.c_int
except (ImportError, AttributeError, OSError):  # pragma: no cover
    _read_batch = _write_batch = _hook_add = _context_save = None

def handle(uc: Uc) -> int | None:
    """`uc`'s `uc_engine *` (the binding's instance handle), or None where the binding
    keeps it elsewhere."""
    return getattr(getattr(uc, "_uch", None), "value", None)


def add_c_hook(uc: Uc, kind: int, callback: int | None, user_data: int | None) -> bool:
    """Register the C function at `callback` as `uc`'s hook of `kind` (UC_HOOK_INTR,
    UC_HOOK_BLOCK, UC_HOOK_EDGE_GENERATED: no extra argument) for every address, called
    with `user_data`. False if it could not be (no library handle, or libunicorn refused).
    Whatever `callback` and `user_data` point to must live as long as `uc`."""
    h = handle(uc)
    if _hook_add is None or h is None or not callback:
        return False
    hh = ctypes.c_size_t()
    # uc_hook_add(uc, &hh, kind, callback, user_data, begin, end): begin > end means every
    # address (include/unicorn/unicorn.h).
    return _hook_add(h, ctypes.addressof(hh), kind, callback, user_data, 1, 0) == 0


#: void (*)(uc_engine *uc, uint32_t intno, void *user_data): libunicorn's UC_HOOK_INTR
#: callback; user_data carries a number (a void * as wide as size_t).
_INTR_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_size_t)

_IDS = CALL_REGS + (arm64.UC_ARM64_REG_PC,)
_N = len(_IDS)
_UNPACK = struct.Struct(f"<{_N}Q").unpack_from  # faster than iterating a ctypes array
_PACK = [struct.Struct(f"<{n}Q").pack_into for n in range(_N + 1)]
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


class CallRegs:
    """Read all of x0..x17 and PC, write some of x0..x17, for one Unicorn instance."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._ids = (ctypes.c_int * _N)(*_IDS)
        self._vals = (ctypes.c_uint64 * _N)()
        self._ptrs = (ctypes.c_void_p * _N)(*(ctypes.addressof(self._vals) + 8 * i for i in range(_N)))
        self._ids_at = ctypes.addressof(self._ids)
        self._ptrs_at = ctypes.addressof(self._ptrs)
        self._handle: int | None = handle(uc) if _read_batch is not None else None
        # Writes use their own buffer, so the values of the last answer written stay there.
        self._wvals = (ctypes.c_uint64 * _N)()
        self._wptrs = (ctypes.c_void_p * _N)(*(ctypes.addressof(self._wvals) + 8 * i for i in range(_N)))
        self._wptrs_at = ctypes.addressof(self._wptrs)
        #: Keys of an answer (register numbers, in order) -> address of their id array.
        self._write_ids: dict[tuple[int, ...], int] = {}
        self._keep: list[ctypes.Array] = []
        #: (registers, id array address, count) of the last write: its values are in _wvals.
        self._last: tuple[dict[int, int], int, int] | None = None
        #: (handle, register ids, value pointers, values) to read x0..x17 and PC with one
        #: `read_batch(handle, ids, pointers, BATCH_COUNT)` into `values` (a ctypes array:
        #: indexing gives ints, and it is a buffer of their little-endian bytes); None where
        #: there is no batch path. For the trap's fast path (fastcalls.py), which calls
        #: libunicorn itself; the arguments are ctypes objects, converted once.
        self.batch: tuple[Any, Any, Any, Any] | None = None
        if self._handle is not None and read_batch is not None:
            self.batch = (ctypes.c_void_p(self._handle), ctypes.c_void_p(self._ids_at),
                          ctypes.c_void_p(self._ptrs_at), self._vals)

    def read(self) -> tuple[tuple[int, ...], int]:
        """(x0..x17 as 64-bit values, PC)."""
        if self._handle is not None and _read_batch(self._handle, self._ids_at, self._ptrs_at, _N) == 0:
            vals = _UNPACK(self._vals)
            return vals[:-1], vals[-1]
        read = self._uc.reg_read
        return tuple(read(r) for r in CALL_REGS), read(arm64.UC_ARM64_REG_PC)

    @staticmethod
    def unpack(raw: Any) -> tuple[tuple[int, ...], int]:
        """(x0..x17, PC) of the values a batch read left."""
        vals = _UNPACK(raw)
        return vals[:-1], vals[-1]

    def write(self, regs: dict[int, int]) -> None:
        """Write register n (0..17) := value for each item.

        The same dict as the last write (the built-in handlers hand out one shared Answer
        per result: handlers.env) is not packed again. Answers are values: a dict once
        written is never changed."""
        last = self._last
        if last is not None and last[0] is regs:
            if _write_batch(self._handle, last[1], self._wptrs_at, last[2]) == 0:
                return
        count = len(regs)
        if self._handle is not None and count:
            key = tuple(regs)
            ids = self._write_ids.get(key)
            if ids is None:
                array = (ctypes.c_int * count)(*(CALL_REGS[n] for n in key))
                self._keep.append(array)
                ids = self._write_ids[key] = ctypes.addressof(array)
            try:
                _PACK[count](self._wvals, 0, *regs.values())
            except struct.error:  # negative or wider than 64 bits: two's complement, truncated
                _PACK[count](self._wvals, 0, *[v & _MASK64 for v in regs.values()])
            self._last = (regs, ids, count)
            if _write_batch(self._handle, ids, self._wptrs_at, count) == 0:
                return
            self._last = None
        write = self._uc.reg_write
        for n, value in regs.items():
            write(CALL_REGS[n], value & _MASK64)


class PreparedWrite(NamedTuple):
    """An answer packed once, written by `write_batch(handle, ids, pointers, count)` on any
    vCPU (the buffers do not depend on the vCPU): what the trap's fast path writes. The
    arguments are ctypes objects."""

    ids: Any
    pointers: Any
    count: Any
    keep: tuple[ctypes.Array, ...]  # the buffers those addresses point into


def prepare_write(regs: dict[int, int]) -> PreparedWrite | None:
    """`regs` (register n (0..17) -> value) packed for write_batch; None without a batch path."""
    if write_batch is None or not regs:
        return None
    n = len(regs)
    ids = (ctypes.c_int * n)(*(CALL_REGS[r] for r in regs))
    vals = (ctypes.c_uint64 * n)(*(v & _MASK64 for v in regs.values()))
    ptrs = (ctypes.c_void_p * n)(*(ctypes.addressof(vals) + 8 * i for i in range(n)))
    return PreparedWrite(ctypes.c_void_p(ctypes.addressof(ids)), ctypes.c_void_p(ctypes.addressof(ptrs)),
                         ctypes.c_int(n), (ids, vals, ptrs))


#: libunicorn's uc_reg_read_batch and uc_reg_write_batch for the trap's fast path, called
#: with ctypes objects and no declared argument types: ctypes then converts nothing, which
#: saves about 0.1 us a call over plain-address arguments (None where the binding's library
#: cannot be reached).
read_batch: Any = None
write_batch: Any = None
BATCH_COUNT = ctypes.c_int(_N)
if _read_batch is not None:  # pragma: no branch
    try:
        _lib_fast = ctypes.CDLL(_uclib._name)  # a third handle: its own function objects
        read_batch, write_batch = _lib_fast.uc_reg_read_batch, _lib_fast.uc_reg_write_batch
        read_batch.restype = write_batch.restype = ctypes.c_int
    except (OSError, AttributeError):  # pragma: no cover
        read_batch = write_batch = None


def context_refresher(uc: Uc, context: object) -> Callable[[], None]:
    """A function that saves `uc`'s CPU state again into `context` (a UcContext of `uc`):
    one plain C call (Uc.context_update takes about 2 us more)."""
    h = handle(uc)
    address = getattr(getattr(context, "context", None), "value", None)
    if _context_save is None or h is None or address is None:
        return lambda: uc.context_update(context)  # type: ignore[arg-type]

    def refresh() -> None:
        if _context_save(h, address) != 0:
            uc.context_update(context)  # type: ignore[arg-type]  # raises the UcError
    return refresh


def hook_intr(uc: Uc, callback: Callable[[int, int, int], None], number: int) -> object:
    """Make `callback(handle, intno, number)` the UC_HOOK_INTR hook of `uc`, registered
    with libunicorn itself. Returns the ctypes callback object, which must be kept alive as
    long as `uc`, or None if this binding has no such path (then use uc.hook_add, which
    calls back with (uc, intno, number))."""
    thunk = _INTR_CALLBACK(callback)
    if not add_c_hook(uc, UC_HOOK_INTR, ctypes.cast(thunk, ctypes.c_void_p).value, number):
        return None
    return thunk


#: A register of a RegBatch: a Unicorn register ID, or the (crn, crm, op0, op1, op2) of a
#: system register, read and written through UC_ARM64_REG_CP_REG.
BatchReg = Union[int, Tuple[int, int, int, int, int]]
_CP_SLOT = struct.Struct("<5I4xQ")  # uc_arm64_cp_reg {u32 crn, crm, op0, op1, op2; u64 val}


class RegBatch:
    """A fixed list of registers read, or written, in one libunicorn call (as CallRegs does
    for x0..x17): what an exception entry needs costs about 1 us instead of ~3 us a register.
    The plain registers come first, then the CP_REG ones (one pack for all plain values)."""

    def __init__(self, uc: Uc, regs: tuple[BatchReg, ...]) -> None:
        plain = [r for r in regs if not isinstance(r, tuple)]
        cp = [r for r in regs if isinstance(r, tuple)]
        assert list(regs) == plain + cp, "plain registers first, then CP_REG ones"
        self._uc = uc
        self._regs = regs
        self._nplain = len(plain)
        n = len(regs)
        self._ids = (ctypes.c_int * n)(*plain, *[arm64.UC_ARM64_REG_CP_REG] * len(cp))
        size = 8 * len(plain)
        self._buf = ctypes.create_string_buffer(size + _CP_SLOT.size * len(cp))
        base = ctypes.addressof(self._buf)
        slots = [8 * i for i in range(len(plain))] + [size + _CP_SLOT.size * i for i in range(len(cp))]
        self._ptrs = (ctypes.c_void_p * n)(*(base + at for at in slots))
        self._ids_at, self._ptrs_at = ctypes.addressof(self._ids), ctypes.addressof(self._ptrs)
        for at, r in zip(slots[len(plain):], cp):  # the selectors stay in place between calls
            _CP_SLOT.pack_into(self._buf, at, *r, 0)
        self._plain = struct.Struct(f"<{len(plain)}Q")
        self._cp_vals = [at + 24 for at in slots[len(plain):]]
        self._values = struct.Struct(f"<{len(plain)}Q" + "24xQ" * len(cp))
        self._handle: int | None = handle(uc) if _read_batch is not None else None

    def read(self) -> tuple[int, ...]:
        """The registers' values, in order."""
        if self._handle is not None and _read_batch(self._handle, self._ids_at, self._ptrs_at, len(self._regs)) == 0:
            return self._values.unpack_from(self._buf)
        return tuple(self._uc.reg_read(arm64.UC_ARM64_REG_CP_REG, r) if isinstance(r, tuple)
                     else self._uc.reg_read(r) for r in self._regs)

    def write(self, values: tuple[int, ...]) -> None:
        """Write the registers, in order (64-bit values)."""
        if self._handle is not None:
            buf, p = self._buf, self._nplain
            try:
                self._plain.pack_into(buf, 0, *values[:p])
                for at, value in zip(self._cp_vals, values[p:]):
                    _PACK_Q(buf, at, value)
            except struct.error:  # negative or wider than 64 bits: two's complement, truncated
                self.write(tuple(v & _MASK64 for v in values))
                return
            if _write_batch(self._handle, self._ids_at, self._ptrs_at, len(self._regs)) == 0:
                return
        for r, value in zip(self._regs, values):
            if isinstance(r, tuple):
                self._uc.reg_write(arm64.UC_ARM64_REG_CP_REG, r + (value & _MASK64,))
            else:
                self._uc.reg_write(r, value & _MASK64)


_PACK_Q = struct.Struct("<Q").pack_into
