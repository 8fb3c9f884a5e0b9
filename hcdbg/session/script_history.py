"""A call script read back as the call history its run kept: records to draw or list a
recording without running the guest again (`hcdbg timeline SCRIPT`)."""
from __future__ import annotations

from hcdbg.machine.board import MAX_VCPUS, mpidr_of
from hcdbg.session.callscript import Script
from hcdbg.session.record import CallRecord
from hcdbg.smccc import catalog
from hcdbg.smccc.call import Call
from hcdbg.smccc.effects import (CpuOff, CpuOn, CpuSuspend, Effect, SystemOff, SystemReset, SystemSuspend,
                                 Undefined)

_INDEX = {mpidr_of(i): i for i in range(MAX_VCPUS)}


def lanes_of(script: Script) -> int:
    """The recorded machine's vCPU count (its header's machine.smp), at least 1."""
    smp = script.header.get("machine", {}).get("smp", 1)
    return smp if isinstance(smp, int) and not isinstance(smp, bool) and 1 <= smp <= MAX_VCPUS else 1


def effect_of(name: str | None, fid: int, regs: tuple[int, ...]) -> Effect | None:
    """The effect an entry's `"effect"` names, rebuilt from the call's arguments (a CPU_ON
    whose target is no vCPU of the board: None)."""
    fn = catalog.lookup(fid)
    kind = fn.name if fn else ""
    if name == "CpuOn":
        target = _INDEX.get(regs[1] & 0xFF_00FF_FFFF)  # MPIDR Aff3, Aff2-0
        return None if target is None else CpuOn(target, regs[2], regs[3])
    if name == "CpuOff":
        return CpuOff()
    if name == "CpuSuspend":
        return CpuSuspend(regs[2], regs[3])
    if name == "SystemSuspend":
        return SystemSuspend(regs[1], regs[2])
    if name == "SystemOff":
        return SystemOff(kind or "PSCI_SYSTEM_OFF")
    if name == "SystemReset":
        return SystemReset(kind or "PSCI_SYSTEM_RESET")
    if name == "Undefined":
        return Undefined()
    return None


def records_of(script: Script) -> list[CallRecord]:
    """One record per call entry, numbered as the recorded run numbered them (a script
    recorded from call N on starts at N). What an entry leaves out reads as zero (arguments),
    vCPU 0, hvc #0, pc 0, no answer."""
    offset = script.header.get("from_call", 1)
    offset = offset - 1 if isinstance(offset, int) and not isinstance(offset, bool) and offset > 0 else 0
    out = []
    for e in script.entries:
        regs = [0] * 18
        regs[0] = e.fid
        for n, value in e.args.items():
            if 0 < n < 18:
                regs[n] = value
        call = Call(e.fid, tuple(regs), e.conduit or "hvc", e.imm or 0, e.vcpu or 0, 0)  # type: ignore[arg-type]
        out.append(CallRecord(offset + e.index, call, e.by, dict(e.answer or {}),
                              f"from line {e.line} of the script", effect_of(e.effect, e.fid, call.regs)))
    return out
