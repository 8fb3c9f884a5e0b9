"""Instruction-cache maintenance across vCPUs: code one vCPU rewrites is seen by all.

Each vCPU is its own Unicorn instance with its own cache of translated code. QEMU notices
a store into translated code only within the instance that made it, so another vCPU would
keep running the old instructions. The architecture says what software does to make new
code visible to other PEs (Arm ARM B2.2.5 "Concurrent modification and execution of
instructions"; the cache maintenance sequence: DC CVAU, DSB, IC IVAU, DSB, ISB): the
invalidation that reaches every PE of the Inner Shareable domain is `IC IVAU` (by address)
or `IC IALLUIS`. So when a vCPU executes one of them, every vCPU drops its translated code
before its next slice (each vCPU stops between instructions, so that is before it could
run any of the new code), and retranslates from memory as it now is.

Watching SYS instructions costs a Python call for each (DC ZVA, TLBI included: about 3 us;
38,000 of them from Linux's start to its first PSCI call), so the watch is only set up once
a second vCPU has been powered on: a lone vCPU's own stores are seen by its own instance.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UC_HOOK_INSN
from unicorn import arm64_const as arm64

from hcdbg.machine import sysreg

if TYPE_CHECKING:
    from hcdbg.machine.vcpu import Vcpu

# (op0, op1, crn, crm, op2) of the broadcast I-cache invalidations (Arm ARM C5.3, "A64
# system instructions for cache maintenance"): IC IALLUIS = SYS #0, C7, C1, #0;
# IC IVAU = SYS #3, C7, C5, #1. IC IALLU (C7, C5, #0) is local to the PE: not watched.
_BROADCAST_IC = {(1, 0, 7, 1, 0), (1, 3, 7, 5, 1)}


class ICacheWatch:
    """Counts broadcast I-cache invalidations; a vCPU that has not seen the latest one drops
    its translated code before it runs again."""

    def __init__(self) -> None:
        self.armed = False  # set once several vCPUs have run
        self.epoch = 0  # broadcast invalidations executed so far
        self._seen: dict[int, int] = {}  # vCPU index -> epoch its translated code is from
        self._hooks: dict[int, int] = {}  # vCPU index -> hook handle
        self._keep: dict[int, list[object]] = {}  # the native hooks' ctypes objects

    def before_slice(self, vcpu: Vcpu) -> None:
        """Call before `vcpu` runs: watch it if armed, drop its code if it is stale."""
        index = vcpu.index
        if self.armed and index not in self._hooks:
            # Hooks are looked up when code is translated: retranslate with it.
            if sysreg.SYS_FILTER is not None and sysreg.native():
                # _sysreg.c lets only IC IALLUIS/IVAU through: DC ZVA costs no Python call.
                self._keep[index] = sysreg.add_filtered_hook(
                    vcpu.uc, arm64.UC_ARM64_INS_SYS, sysreg.SYS_FILTER, lambda _r, cp: self._on_sys(None, 0, cp, None))
                self._hooks[index] = 0
            else:
                self._hooks[index] = vcpu.uc.hook_add(UC_HOOK_INSN, self._on_sys, None, 1, 0,
                                                      arm64.UC_ARM64_INS_SYS)
            vcpu.uc.ctl_flush_tb()  # type: ignore[attr-defined]  # generated at runtime
            self._seen[index] = self.epoch
        elif self._seen.get(index, self.epoch) != self.epoch:
            vcpu.uc.ctl_flush_tb()  # type: ignore[attr-defined]
        self._seen[index] = self.epoch

    def _on_sys(self, _uc: object, _reg: int, cp: object, _data: object) -> int:
        key = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)  # type: ignore[attr-defined]
        if key in _BROADCAST_IC:
            self.epoch += 1
        return 0  # execute the instruction as usual
