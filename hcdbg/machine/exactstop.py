"""Stops asked for from another thread (time slices, Ctrl-C) land between translated blocks.

Why: Unicorn 2.1 checks for a stop request at the start of every translated block *and*
after every guest memory access (tcg-op.c `check_exit_request`, there so that a memory hook
can stop emulation). A request seen after an access exits with the guest PC restored to the
start of the accessing instruction although the access, and its register write, already
happened: on resume that instruction runs a second time. `ldr x1, [x1]` then loads through
the value it loaded; an exclusive store, a store another vCPU overwrote meanwhile, an
`ldadd`, are done twice. A request seen at the start of a block is exact: nothing of the
block has run. (Unicorn issues about `emu_stop` from another thread: #1105, #1355.)

What: Unicorn has a per-engine switch, `uc_struct.no_exit_request`, that leaves out the
per-access checks from code translated while it is set (meant for AArch32 IT blocks);
the per-block check stays. The field is not public API, so its offset is found once per
process: by its neighbours' known values (host page size twice, the context size, the
flags around it), then proven by behaviour in a scratch engine (a memory hook that asks
to stop no longer stops mid-block). If either step fails, `available()` is False and the
machine never stops a vCPU from another thread (it counts instructions instead).

Blocks translated with the switch set also skip the check after a UC_HOOK_CODE hook, so
code hooks cannot stop exactly there: breakpoints are Unicorn exits instead (machine.py),
and counted slices (whose count is a code hook) translate with the switch clear.
"""
from __future__ import annotations

import ctypes
import mmap
import struct
from functools import cache

from unicorn import UC_HOOK_MEM_READ, Uc, UcError
from unicorn import arm64_const as arm64

from hcdbg.machine import callregs
from hcdbg.machine.engine import new_engine

_SCAN = 4096  # bytes of uc_struct searched; the field sits near offset 2000 in 2.1.x
_CONTEXT_CPU = 1  # UC_CTL_CONTEXT_CPU: uc_struct.context_content's default


def _context_size(handle: int) -> int | None:
    try:
        from unicorn.unicorn_py3.unicorn import uclib
        size = ctypes.CDLL(uclib._name).uc_context_size
    except (ImportError, AttributeError, OSError):  # pragma: no cover - other bindings
        return None
    size.argtypes, size.restype = (ctypes.c_void_p,), ctypes.c_size_t
    return size(handle)


def _candidates(handle: int) -> list[int]:
    """Offsets of `no_exit_request` by layout: in Unicorn 2.1.x's uc_struct it follows
    u64 qemu_host_page_size, u64 qemu_real_host_page_size, int qemu_icache_linesize,
    int context_content, int cpu_context_size, u64 next_pc, bool hook_insert,
    bool first_tb; then comes bool init_done (include/uc_priv.h)."""
    ctx = _context_size(handle)
    if ctx is None:
        return []
    blob = ctypes.string_at(handle, _SCAN)
    found = []
    for at in range(0, _SCAN - 48, 8):
        host, real = struct.unpack_from("<QQ", blob, at)
        if host != mmap.PAGESIZE or real != mmap.PAGESIZE:
            continue
        _icache, content, cpu_size = struct.unpack_from("<iii", blob, at + 16)
        hook_insert, _first_tb, no_exit, init_done = blob[at + 40:at + 44]
        if (content == _CONTEXT_CPU and 0 < cpu_size < ctx <= cpu_size + 256
                and hook_insert == 0 and no_exit == 0 and init_done == 1):
            found.append(at + 42)
    return found


def _probe(offset: int | None) -> tuple[bool | None, list[int]]:
    """Run `ldr x1, [x2]; add x3, x3, #1; add x3, x3, #1` as one block in a scratch engine
    whose read hook asks to stop: (True if it stopped after the load, i.e. the per-access
    check is there; False if it ran to the block's end; None if the probe failed, and the
    switch's candidate offsets in this engine). `offset`: set the switch there first.
    One engine at a time, freed on return: each holds a translation buffer."""
    code = struct.pack("<3I", 0xF9400041, 0x91000463, 0x91000463)
    try:
        uc = new_engine()
        uc.mem_map(0x1000, 0x1000)  # the engine initialises itself on first use
        uc.mem_write(0x1000, code)
        uc.reg_write(arm64.UC_ARM64_REG_X2, 0x1800)
        handle = callregs.handle(uc)
        found = _candidates(handle) if handle is not None else []
        if offset is not None:
            if handle is None or offset not in found:
                return None, found
            ctypes.c_bool.from_address(handle + offset).value = True
        uc.hook_add(UC_HOOK_MEM_READ, lambda u, *_a: u.emu_stop())
        uc.emu_start(0x1000, 0x1000 + len(code))
        return uc.reg_read(arm64.UC_ARM64_REG_X3) == 0, found
    except UcError:
        return None, []


@cache
def offset() -> int | None:
    """Offset of `no_exit_request` in this Unicorn's engine struct, or None if not proven."""
    stops, found = _probe(None)
    if stops is not True or len(found) != 1:
        return None
    if _probe(found[0])[0] is not False:
        return None
    return found[0]


def available() -> bool:
    """Whether stops from another thread can be made exact on this Unicorn build."""
    return offset() is not None


class ExactStops:
    """The switch of one engine: `enable(True)` before running code that another thread
    may stop, `enable(False)` before code that a code hook must stop exactly (counting)."""

    def __init__(self, uc: Uc) -> None:
        off, handle = offset(), callregs.handle(uc)
        self._flag = (ctypes.c_bool.from_address(handle + off)
                      if off is not None and handle is not None else None)

    def enable(self, on: bool) -> None:
        """Checks only between blocks (True) or also after each access (False), for code
        translated from now on. Written before every slice: translating AArch32 code (IT
        blocks) rewrites the field."""
        if self._flag is not None:
            self._flag.value = on
