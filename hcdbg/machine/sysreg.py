"""The generic timer's system registers: MRS/MSR trapped from Unicorn into `timer.Timers`.

Unicorn 2.1.4 cannot run the EL1 timers itself (writes to CNTV/CNTP CTL and CVAL are
dropped, ISTATUS never set: tests/test_sysreg_hook.py), so every MRS/MSR of a timer register
is trapped (UC_HOOK_INSN) and served by the model. Unicorn calls such a hook for *every*
MRS/MSR; `_sysreg.c` filters them in C so that only timer registers cost a Python call.
Without the compiled filter (no C compiler at install, or HCDBG_NATIVE=0) a Python hook
filters: the same results, much slower for a kernel (it reads SP_EL0 and DAIF constantly).
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
from typing import Any, Callable

from unicorn import UC_HOOK_INSN, Uc
from unicorn import arm64_const as arm64

from hcdbg.machine import callregs, registers
from hcdbg.machine.timer import ENCODINGS, Reg, Timers

#: The bits of CNTKCTL_EL1 that let EL0 use a register (DDI 0487 D11.2.? CNTKCTL_EL1):
#: EL0PCTEN 0, EL0VCTEN 1, EL0VTEN 8, EL0PTEN 9; CNTFRQ with either count bit.
_EL0_BITS = {Reg.CNTPCT_EL0: 1 << 0, Reg.CNTVCT_EL0: 1 << 1, Reg.CNTFRQ_EL0: 0b11,
             Reg.CNTV_CTL_EL0: 1 << 8, Reg.CNTV_CVAL_EL0: 1 << 8, Reg.CNTV_TVAL_EL0: 1 << 8,
             Reg.CNTP_CTL_EL0: 1 << 9, Reg.CNTP_CVAL_EL0: 1 << 9, Reg.CNTP_TVAL_EL0: 1 << 9}
_COUNTER_REGS = (Reg.CNTFRQ_EL0, Reg.CNTPCT_EL0, Reg.CNTVCT_EL0)
_CNTKCTL = registers.SYSREGS.get("cntkctl_el1", (14, 1, 3, 0, 0))


class _CpReg(ctypes.Structure):
    """include/unicorn/arm64.h uc_arm64_cp_reg."""

    _fields_ = [("crn", ctypes.c_uint32), ("crm", ctypes.c_uint32), ("op0", ctypes.c_uint32),
                ("op1", ctypes.c_uint32), ("op2", ctypes.c_uint32), ("val", ctypes.c_uint64)]


class _Filter(ctypes.Structure):
    """_sysreg.c hc_filter: the Python callback, its user data, whether counters are ours."""

    _fields_ = [("callback", ctypes.c_void_p), ("user", ctypes.c_void_p),
                ("counter", ctypes.c_uint64), ("passed", ctypes.c_uint64)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int,
                             ctypes.POINTER(_CpReg), ctypes.c_void_p)


def _native_filter(name: str) -> int | None:
    """Address of the function `name` in the compiled extension, or None."""
    if os.environ.get("HCDBG_NATIVE", "1") == "0":
        return None
    spec = importlib.util.find_spec("hcdbg.machine._sysreg")
    if spec is None or spec.origin is None:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


_FILTER = _native_filter("hcdbg_sysreg_filter")
SYS_FILTER = _native_filter("hcdbg_sys_filter")
_hook_add: Any = None
try:  # pragma: no cover - depends on the installed binding's layout (as callregs.py)
    from unicorn.unicorn_py3.unicorn import uclib as _uclib

    _hook_add = ctypes.CDLL(_uclib._name).uc_hook_add
    # uc_hook_add(uc, &hh, UC_HOOK_INSN, callback, user_data, begin, end, int insn)
    _hook_add.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int)
    _hook_add.restype = ctypes.c_int
except (ImportError, AttributeError, OSError):  # pragma: no cover
    _hook_add = None


def native() -> bool:
    """Whether the compiled filter is in use (`info timer` says which)."""
    return _FILTER is not None and _hook_add is not None


Callback = Callable[[int, Any], int]


def add_filtered_hook(uc: Uc, insn: int, native_filter: int, fn: Callback, counter: bool = False) -> list[object]:
    """Register `native_filter` (a function of _sysreg.c) as `uc`'s UC_HOOK_INSN hook for
    `insn`, calling `fn(xreg, cp_reg)` for what it lets through. Returns the ctypes objects
    libunicorn now points to: keep them alive as long as `uc`."""
    handle = callregs.handle(uc)
    if handle is None or _hook_add is None:
        raise RuntimeError("this Unicorn binding has no handle for native hooks")
    cb = _CALLBACK(lambda _uc, reg, cp, _ud: fn(reg, cp.contents))
    flt = _Filter(ctypes.cast(cb, ctypes.c_void_p).value, None, int(counter), 0)
    hh = ctypes.c_size_t()
    err = _hook_add(handle, ctypes.byref(hh), UC_HOOK_INSN, native_filter, ctypes.addressof(flt), 1, 0, insn)
    if err:
        raise RuntimeError(f"uc_hook_add(UC_HOOK_INSN) failed: {err}")
    return [cb, flt, hh]


class TimerTrap:
    """Routes vCPU `index`'s timer register accesses to `timers`. `counter`: the model also
    owns CNTPCT/CNTVCT/CNTFRQ (an instruction-counted clock); otherwise Unicorn reads the
    host clock for them, which is what the model's HostCounter reads too."""

    def __init__(self, uc: Uc, index: int, timers: Timers, counter: bool) -> None:
        self._uc = uc
        self._index = index
        self._timers = timers
        self._counter = counter
        self._keep: list[object] = []  # ctypes objects libunicorn holds pointers to
        handle = callregs.handle(uc)
        if native() and handle is not None and _FILTER is not None:
            for insn, fn in ((arm64.UC_ARM64_INS_MRS, self._read), (arm64.UC_ARM64_INS_MSR, self._write)):
                self._keep += add_filtered_hook(uc, insn, _FILTER, fn, counter)
            self.native = True
        else:
            uc.hook_add(UC_HOOK_INSN, lambda _u, reg, cp, _d: self._slow(reg, cp, self._read),
                        None, 1, 0, arm64.UC_ARM64_INS_MRS)
            uc.hook_add(UC_HOOK_INSN, lambda _u, reg, cp, _d: self._slow(reg, cp, self._write),
                        None, 1, 0, arm64.UC_ARM64_INS_MSR)
            self.native = False

    def set_counter(self, counter: bool) -> None:
        """Whether CNTPCT/CNTVCT/CNTFRQ reads come to the model (see __init__)."""
        self._counter = counter
        for obj in self._keep:
            if isinstance(obj, _Filter):
                obj.counter = int(counter)

    def _slow(self, reg: int, cp: Any, fn: Callable[[int, Any], int]) -> int:
        """The Python filter: what _sysreg.c does, then the same handlers."""
        if cp.op0 != 3 or cp.crn != 14 or cp.op1 == 4:
            return 0
        if cp.op1 == 3 and cp.crm == 0 and not self._counter:
            return 0
        return fn(reg, cp)

    def _register(self, cp: Any) -> Reg | None:
        reg = ENCODINGS.get((cp.op0, cp.op1, cp.crn, cp.crm, cp.op2))
        if reg is None or reg == Reg.CNTKCTL_EL1:
            return None  # Unicorn keeps CNTKCTL_EL1 (its EL0 access checks read it)
        if self._uc.reg_read(arm64.UC_ARM64_REG_PSTATE) & 0xC == 0:  # EL0
            kctl = self._uc.reg_read(arm64.UC_ARM64_REG_CP_REG, _CNTKCTL)
            if not kctl & _EL0_BITS[reg]:
                return None  # Unicorn raises the UNDEF the architecture asks for
        return reg

    def _read(self, xreg: int, cp: Any) -> int:
        reg = self._register(cp)
        if reg is None:
            return 0
        if xreg != arm64.UC_ARM64_REG_XZR:
            self._uc.reg_write(xreg, self._timers.read(self._index, reg))
        return 1

    def _write(self, _xreg: int, cp: Any) -> int:
        reg = self._register(cp)
        if reg is None:
            return 0
        self._timers.write(self._index, reg, cp.val)
        return 1
