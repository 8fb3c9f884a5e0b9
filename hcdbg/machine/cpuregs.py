"""Where a vCPU's x0..x17 and PC live in Unicorn's memory, for the native call path.

Why: `uc_reg_read_batch` of x0..x17 and PC, and the batch write of an answer, were a third of
a call answered in C (perf of scripts/bench `native`, issue 16): per register, a switch in
libunicorn and a size check. Each of those registers is one 64-bit word of QEMU's
CPUARMState (target/arm/cpu.h: `uint64_t xregs[32]` and right after it `uint64_t pc`), which
Unicorn's reg_read_aarch64/reg_write_aarch64 read and write as they are (no side effect for
x0..x28; the PC's write also ends the translation loop, which an answer never needs). So the
C hook can read the 18 words and the PC in place and store an answer's words there.

What: the place is not public API. It is found once per process relative to the vCPU's
CPUState (`uc_struct.cpu`, found and proven by irqline.py): in a scratch engine, 18 unlikely
values are written to x0..x17 and one to the PC through reg_write, and the memory after the
CPUState is searched for the 18 words in a row with the PC's 14 words further (xregs[18..31]
lie between). Then it is proven by behaviour in a fresh engine: values stored there are what
reg_read returns, what an instruction executed next computes with (`add x17, x0, x1`), and
reg_write's values appear there. If any step fails, `offset()` is None and the native path
reads and writes through the batch API as before.
"""
from __future__ import annotations

import ctypes
import struct
from functools import cache

from unicorn import Uc, UcError
from unicorn import arm64_const as arm64

from hcdbg.machine import callregs, irqline
from hcdbg.machine.engine import new_engine
from hcdbg.machine.registers import CALL_REGS

_SCAN = 1 << 20  # bytes after the CPUState searched (the registers sit ~36 KiB in, 2.1.4)
_PC_AFTER = 32 * 8  # CPUARMState: the PC follows xregs[32]
_ADD_X17_X0_X1 = 0x8B010011  # add x17, x0, x1
_NOP = 0xD503201F


def _cpu(uc: Uc) -> int | None:
    """The address of `uc`'s CPUState (the engine must have been used once), or None."""
    at = irqline.offset()
    handle = callregs.handle(uc)
    if at is None or handle is None:
        return None
    return ctypes.c_void_p.from_address(handle + at).value or None


def _readable(lo: int, size: int) -> int:
    """How many bytes from `lo` (at most `size`) are readable in this process."""
    for start, end in irqline._mapped():
        if start <= lo < end:
            return min(size, end - lo)
    return 0


def _magic(n: int, salt: int) -> list[int]:
    return [(0x6863_6462_0000_0000 | (salt << 16) | i) ^ 0x5A5A_0000_0000_0000 for i in range(n)]


def _engine() -> Uc:
    uc = new_engine()
    uc.ctl_set_cpu_model(arm64.UC_CPU_ARM64_A57)
    uc.mem_map(0x1000, 0x1000)  # the engine creates its CPU on first use
    return uc


def _find() -> int | None:
    """The offset from the CPUState to xregs[0], by the values reg_write put there."""
    uc = _engine()
    cpu = _cpu(uc)
    if cpu is None:
        return None
    xs, pc = _magic(18, 1), _magic(1, 2)[0] & ~3
    for reg, value in zip(CALL_REGS, xs):
        uc.reg_write(reg, value)
    uc.reg_write(arm64.UC_ARM64_REG_PC, pc)
    size = _readable(cpu, _SCAN)
    if size < 18 * 8:
        return None
    blob = ctypes.string_at(cpu, size)
    at = blob.find(struct.pack("<18Q", *xs))
    if at < 0 or blob.find(struct.pack("<18Q", *xs), at + 1) >= 0:
        return None
    if blob[at + _PC_AFTER:at + _PC_AFTER + 8] != struct.pack("<Q", pc):
        return None
    return at


def _prove(offset: int) -> bool:
    """In a fresh engine: stored words are the registers reg_read and the guest see, and
    reg_write's values are the stored words."""
    uc = _engine()
    cpu = _cpu(uc)
    if cpu is None or _readable(cpu + offset, _PC_AFTER + 8) < _PC_AFTER + 8:
        return False
    words = (ctypes.c_uint64 * 33).from_address(cpu + offset)
    xs = _magic(18, 3)
    for n, value in enumerate(xs):
        words[n] = value
    words[32] = 0x1000
    if [uc.reg_read(r) for r in CALL_REGS] != xs or uc.reg_read(arm64.UC_ARM64_REG_PC) != 0x1000:
        return False
    uc.mem_write(0x1000, struct.pack("<2I", _ADD_X17_X0_X1, _NOP))
    uc.emu_start(0x1000, 0, 0, 1)
    if uc.reg_read(arm64.UC_ARM64_REG_X17) != (xs[0] + xs[1]) & (2**64 - 1):
        return False
    if words[17] != uc.reg_read(arm64.UC_ARM64_REG_X17) or words[32] != 0x1004:
        return False
    ys = _magic(18, 4)
    for reg, value in zip(CALL_REGS, ys):
        uc.reg_write(reg, value)
    return list(words[:18]) == ys


@cache
def offset() -> int | None:
    """Offset from a vCPU's CPUState to its x0 (x1..x17 follow, the PC 32 words after x0),
    or None where it is not found and proven."""
    try:
        at = _find()
        return at if at is not None and _prove(at) else None
    except (UcError, OSError, ValueError):
        return None


def address(uc: Uc) -> int | None:
    """Where `uc`'s x0 is (see `offset`), or None: then use the register API."""
    at = offset()
    cpu = _cpu(uc) if at is not None else None
    return cpu + at if cpu is not None and at is not None else None
