"""Making a Unicorn engine (every vCPU and every probe), sized to the process's memory limit.

Unicorn reserves a translation buffer when an engine is first used (1 GiB of address space
by default) and, if that mmap fails, prints "Could not allocate dynamic translator buffer"
and exits the whole process with status 1. Under an address-space limit (`ulimit -v`) hcdbg
therefore asks for a smaller buffer, and first checks it can map that much itself: if not,
a UsageError says so, and nothing exits from inside Unicorn.
"""
from __future__ import annotations

import mmap
import resource

from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc

from hcdbg.errors import UsageError

#: Unicorn 2's own size, used when the address space is not limited.
DEFAULT_BUFFER = 1 << 30
#: Under a limit: a sixteenth of it, no less than this (a Linux boot runs with 32 MiB, more
#: slowly: the buffer is flushed when full).
MIN_BUFFER = 32 << 20


def buffer_size() -> int:
    """The translation buffer to give each engine under the current RLIMIT_AS."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return DEFAULT_BUFFER
    return min(DEFAULT_BUFFER, max(MIN_BUFFER, limit // 16))


def new_engine() -> Uc:
    """An AArch64 Unicorn engine with a translation buffer the process can map. Raises
    UsageError if it cannot (the memory limit is too low for hcdbg)."""
    size = buffer_size()
    try:  # the mapping Unicorn will make at first use: fail here, not inside it
        probe = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    except (OSError, MemoryError):
        raise UsageError(f"not enough memory for the emulator: its translation buffer needs "
                         f"{size >> 20} MiB of address space (raise the limit, ulimit -v)") from None
    probe.close()
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    if size != DEFAULT_BUFFER:
        uc.ctl_set_tcg_buffer_size(size)
    return uc
