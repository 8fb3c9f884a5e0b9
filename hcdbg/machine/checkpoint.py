"""Machine checkpoints: memory as undo deltas of changed pages, vCPU, UART and scheduler state.

A checkpoint holds each vCPU's whole CPU state and power state, the UART and the scheduler,
and, per block of guest memory, the old contents of the pages changed since the one before.
Memory is tracked at a cost that follows what the guest touched, not the size of its RAM,
without a write hook (a Python UC_HOOK_MEM_WRITE would slow every guest store) and without
the kernel's soft-dirty bits (not every kernel has them: on the one this was written on,
clear_refs "4" leaves pagemap bit 55 at 0). Instead:

* `/proc/self/pagemap` says which host pages of a block are in use (bit 63 present, bit 62
  swapped; Linux Documentation/admin-guide/mm/pagemap.rst). Pages the guest never touched
  are not, and cost nothing: the machine drops RAM pages at reset rather than writing zeros.
* A shadow copy of each block as of the latest checkpoint (a private anonymous map, so
  only pages copied into it take host memory) is compared, page by page, with every page
  ever in use; whole runs and 64 KiB chunks are compared first, so unchanged memory costs
  one memcmp per run.
* A new checkpoint keeps only the old contents of the pages that changed (an undo delta)
  and updates the shadow. Going back copies the shadow over pages changed since, then
  applies the undo deltas of the checkpoints being dropped, newest first.

If pagemap cannot be read (not Linux, or a kernel that hides it), every page counts as in
use: correct, but each checkpoint then compares all of RAM with its shadow.
"""
from __future__ import annotations

import ctypes
import mmap
from collections.abc import Sequence
from dataclasses import dataclass

from unicorn import unicorn_const as UCC

from hcdbg.machine.machine import Machine
from hcdbg.smccc.call import PowerState

PAGE = mmap.PAGESIZE
_CHUNK = 16 * PAGE  # an unchanged 64 KiB costs one compare; a changed one, 16 more
#: Byte 7 of a pagemap entry holds bit 63 (present) and bit 62 (swapped): either means the
#: page has contents. translate() maps that byte to 1 (in use) or 0.
_IN_USE = bytes(1 if b & 0xC0 else 0 for b in range(256))
_PAGEMAP = "/proc/self/pagemap"

_libc = ctypes.CDLL(None)
_memcmp = _libc.memcmp
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_memcmp.restype = ctypes.c_int

#: One block's undo delta: (offset, contents at the previous checkpoint) per changed run.
Delta = tuple[tuple[int, bytes], ...]


def _runs(flags: bytes | bytearray) -> list[tuple[int, int]]:
    """[start, end) of each run of 1s in a 0/1 byte string (memchr-speed scans)."""
    out: list[tuple[int, int]] = []
    pos, n = 0, len(flags)
    while True:
        start = flags.find(1, pos)
        if start < 0:
            return out
        end = flags.find(0, start)
        if end < 0:
            end = n
        out.append((start, end))
        pos = end


class _Block:
    """One block of guest memory (RAM or flash), its shadow as of the latest checkpoint, and
    which pages have ever been in use (only those can differ from the zero shadow)."""

    def __init__(self, block: mmap.mmap, pagemap: bool) -> None:
        self.size = len(block)
        pages = -(-self.size // PAGE)
        self._addr = ctypes.addressof(ctypes.c_char.from_buffer(block))
        self._shadow = mmap.mmap(-1, self.size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._shadow_addr = ctypes.addressof(ctypes.c_char.from_buffer(self._shadow))
        self._pagemap = pagemap
        self._entries = bytearray(8 * pages) if pagemap else bytearray()
        self._seen = bytearray(pages) if pagemap else bytearray(b"\x01" * pages)

    @property
    def tracks_pages(self) -> bool:
        return self._pagemap

    def _in_use(self) -> list[tuple[int, int]]:
        """Byte ranges of the pages that are, or once were, in use."""
        if self._pagemap:
            try:
                with open(_PAGEMAP, "rb", buffering=0) as pagemap:
                    pagemap.seek(self._addr // PAGE * 8)
                    ok = pagemap.readinto(self._entries) == len(self._entries)
            except OSError:
                ok = False
            if ok:
                for start, end in _runs(self._entries[7::8].translate(_IN_USE)):
                    self._seen[start:end] = b"\x01" * (end - start)
            else:  # unreadable after all: compare everything from now on
                self._pagemap = False
                self._seen[:] = b"\x01" * len(self._seen)
        return [(s * PAGE, min(e * PAGE, self.size)) for s, e in _runs(self._seen)]

    def _changed(self) -> list[tuple[int, int]]:
        """Byte ranges (whole pages, coalesced) where the block differs from its shadow. A
        chunk whose first and last pages both changed is taken whole: the guest wrote all
        of it, most likely, and an unchanged page in it only costs a copy, never a wrong
        restore; the per-page compares are what a dense write would otherwise pay."""
        a, b, differ = self._addr, self._shadow_addr, _memcmp
        out: list[tuple[int, int]] = []
        run = [-1, -1]  # the changed range being built

        def changed(start: int, end: int) -> None:
            if start != run[1]:
                if run[1] >= 0:
                    out.append((run[0], run[1]))
                run[0] = start
            run[1] = end

        for start, end in self._in_use():
            if not differ(a + start, b + start, end - start):
                continue
            for chunk in range(start, end, _CHUNK):
                chunk_end = min(chunk + _CHUNK, end)
                if not differ(a + chunk, b + chunk, chunk_end - chunk):
                    continue
                last = chunk_end - PAGE
                if (chunk_end - chunk == _CHUNK and differ(a + chunk, b + chunk, PAGE)
                        and differ(a + last, b + last, PAGE)):
                    changed(chunk, chunk_end)
                    continue
                for page in range(chunk, chunk_end, PAGE):
                    size = min(PAGE, chunk_end - page)
                    if differ(a + page, b + page, size):
                        changed(page, page + size)
        if run[1] >= 0:
            out.append((run[0], run[1]))
        return out

    def capture(self, keep: bool) -> Delta:
        """Bring the shadow up to date; return the old contents of what changed (if `keep`)."""
        a, b = self._addr, self._shadow_addr
        undo: list[tuple[int, bytes]] = []
        for start, end in self._changed():
            if keep:
                undo.append((start, ctypes.string_at(b + start, end - start)))
            ctypes.memmove(b + start, a + start, end - start)
        return tuple(undo)

    def revert(self) -> int:
        """Copy the shadow over every page changed since the latest checkpoint; bytes copied."""
        a, b = self._addr, self._shadow_addr
        copied = 0
        for start, end in self._changed():
            ctypes.memmove(a + start, b + start, end - start)
            copied += end - start
        return copied

    def undo(self, delta: Delta) -> int:
        """Put back the contents a checkpoint's delta holds, in the block and its shadow."""
        for offset, old in delta:
            ctypes.memmove(self._addr + offset, old, len(old))
            ctypes.memmove(self._shadow_addr + offset, old, len(old))
        return sum(len(old) for _, old in delta)


@dataclass(frozen=True)
class VcpuState:
    """A vCPU at a checkpoint: Unicorn's whole CPU state (every register, system registers
    such as SCTLR/TTBR/VBAR/ELR/SPSR/SP_ELx included), its PSCI power state, and whether its
    last slice was counted."""

    context: object  # a unicorn UcContext
    power: PowerState
    counted: bool


@dataclass(frozen=True)
class MachineState:
    """The machine at a checkpoint. `undo` holds, per memory block, the pages that changed
    since the previous checkpoint with their contents then (empty for the first one)."""

    vcpus: tuple[VcpuState, ...]
    uart: tuple[int, bytes, dict[int, int]]
    scheduler: tuple[int, int, tuple[int | None, ...], int]
    undo: tuple[Delta, ...]

    @property
    def size(self) -> int:
        """Host bytes this checkpoint holds on to."""
        saved = sum(len(old) for delta in self.undo for _, old in delta)
        return saved + sum(getattr(v.context, "size", 0) for v in self.vcpus)

    def without_undo(self) -> MachineState:
        """The same state as the oldest one kept: nothing below it to undo to."""
        return MachineState(self.vcpus, self.uart, self.scheduler, tuple(() for _ in self.undo))


def _pagemap_readable() -> bool:
    try:
        with open(_PAGEMAP, "rb", buffering=0) as pagemap:
            return len(pagemap.read(8)) == 8
    except OSError:
        return False


class Checkpointer:
    """Captures a Machine's state and puts it back. The caller keeps the states in order:
    `restore` needs the states captured after the target, newest first."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        pagemap = _pagemap_readable()
        self._blocks = [_Block(block, pagemap) for block in machine.memory_blocks()]
        self.restored_bytes = 0  # bytes of guest memory the last restore wrote

    @property
    def tracks_pages(self) -> bool:
        """False when pagemap is unreadable and all of memory is compared every time."""
        return all(b.tracks_pages for b in self._blocks)

    def capture(self, *, first: bool = False) -> MachineState:
        """The machine now, taken at a stop. `first`: nothing will go back beyond it, so no
        undo delta is kept (the shadow is still brought up to date)."""
        m = self.machine
        return MachineState(
            vcpus=tuple(VcpuState(v.uc.context_save(), v.state, v.counted) for v in m.vcpus),
            uart=m.uart.save_state(),
            scheduler=m.scheduler_state(),
            undo=tuple(b.capture(keep=not first) for b in self._blocks))

    def restore(self, undone: Sequence[MachineState], target: MachineState) -> None:
        """Put the machine back to `target`. `undone` are the states captured after it,
        newest first; the latest capture must be undone[0] (or target, if undone is empty)."""
        written = sum(b.revert() for b in self._blocks)
        for state in undone:
            written += sum(b.undo(delta) for b, delta in zip(self._blocks, state.undo))
        m = self.machine
        for v, saved in zip(m.vcpus, target.vcpus):
            v.uc.context_restore(saved.context)  # type: ignore[arg-type]
            v.state = saved.power
            v.counted = saved.counted
            # Memory changed behind the CPU's back: translated code and cached page-table
            # walks may describe the memory we just replaced.
            v.uc.ctl(UCC.UC_CTL_TLB_FLUSH, UCC.UC_CTL_IO_WRITE)
            v.uc.ctl_flush_tb()  # type: ignore[attr-defined]  # generated at runtime
        m.uart.restore_state(target.uart)
        m.set_scheduler_state(target.scheduler)
        self.restored_bytes = written
