"""Calls answered inside the trap without building a Call: a table the session fills.

Most calls a guest makes in a loop (PSCI_VERSION, FEATURES probes, a denied range) get an
answer that depends on nothing but the function ID and the configuration. The session puts
such answers here as it first gives them; the trap hook then answers the next call with the
same x0 from the table: one dict lookup, one register write, one record appended, no Call,
no handler, no attribute lookups (scripts/bench `calls`: about 2 us a call, where the
trivial ctypes hook alone takes 1). Everything else goes the full way (Session._on_call).
"""
from __future__ import annotations

import mmap
import struct
from array import array
from typing import Any, Callable

from hcdbg.machine import board
from hcdbg.machine import exceptions as exc_entry
from hcdbg.machine.callregs import BATCH_COUNT, read_batch, write_batch

#: An answer the trap may give by itself: its registers packed for write_batch (ids,
#: pointers, count; callregs.PreparedWrite), the call's history word but for the
#: immediate and the vCPU (tail_word), and what a recording needs to write the call's line
#: (session/record.py Recorder.write_raw).
Known = tuple[Any, Any, Any, int, Any]
#: (intno, vCPU index) -> True: the call was answered; False: not, and x0..x17 and PC are
#: in the vCPU's CallRegs.batch buffer as read now (the full way need not read them again);
#: None: not answered, nothing read.
FastPath = Callable[[int, int], "bool | None"]
#: (x0..x17 and PC as read, SMC?, vCPU, immediate) -> the answer to give, or None.
Chooser = Callable[[Any, bool, int, int], "Known | None"]
#: Writes a call answered here to a recording: (x0..x17 and PC as read, vCPU, immediate,
#: the call's address, the Known's last item).
LineWriter = Callable[[Any, int, int, int, Any], None]

_U32 = struct.Struct("<I").unpack_from


def tail_word(answer: int, smc: bool, imm: int, vcpu: int) -> int:
    """The word a call history keeps beside a call's registers: the answer's number in the
    history's table, the conduit, the immediate and the vCPU."""
    return answer << 33 | smc << 32 | imm << 16 | vcpu


def fast_path(known: tuple[dict[int, Known], dict[int, Known]], regs: bytearray, which: array,
              tails: array, batches: list[tuple[int, int, int, Any]], ram: mmap.mmap, ram_size: int,
              line: LineWriter | None = None, bound: tuple[int, Callable[[], None]] | None = None,
              choose: Chooser | None = None) -> FastPath:
    """The trap's fast path: `known` by conduit (0: HVC, 1: SMC), x0 (all 64 bits) -> answer.
    A call answered here appends its x0..x17 and PC (as read, 152 bytes) to `regs` unless
    they are the last block there, the block's number to `which` and its word to `tails`:
    the session's call history (session/history.py). `batches`: each
    vCPU's CallRegs.batch. Only a call at a RAM address (MMU off or identity-mapped) whose
    immediate can be read from RAM, and no SMC with a non-zero immediate (KVM answers those
    otherwise), is answered here. `line`: also write each call so answered (a recording, a
    trace), after the history has it and before the guest runs on. `bound`: (most, trim):
    call trim() when `tails` holds more than `most` calls (a history that keeps only the
    latest). `choose(raw, smc, vCPU, imm)`: the known answer, or None (the full way), in
    place of the table (a replay answers from its script)."""
    most, trim = bound if bound is not None else (1 << 62, None)
    hvc, smc_no = exc_entry.INTNO_HVC, exc_entry.INTNO_SMC
    base = board.RAM_BASE
    count = BATCH_COUNT
    append_regs, append_which, append_tail = regs.__iadd__, which.append, tails.append
    size = 152  # x0..x17 and PC

    def answer(intno: int, index: int) -> bool | None:
        if intno != hvc and intno != smc_no:
            return None
        handle, ids, pointers, raw = batches[index]
        if read_batch(handle, ids, pointers, count):
            return None
        smc = intno == smc_no
        if choose is None:
            hit = known[smc].get(raw[0])
            if hit is None:
                return False
        pc = raw[18] - 4
        off = pc - base
        if not 0 <= off < ram_size:
            return False
        imm = (_U32(ram, off)[0] >> 5) & 0xFFFF
        if smc and imm:  # KVM answers these otherwise (DEN0028 §2.9)
            return False
        if choose is not None:
            hit = choose(raw, smc, index, imm)
            if hit is None:
                return False
        wids, wpointers, wcount, tail, how = hit
        write_batch(handle, wids, wpointers, wcount)
        if regs[-size:] != raw:  # a call in a loop: the same registers as the last one
            append_regs(raw)
        append_which(len(regs) // size - 1)
        append_tail(tail | imm << 16 | index)
        if line is not None:
            line(raw, index, imm, pc, how)
        if len(tails) > most:
            trim()  # type: ignore[misc]
        return True

    return answer
