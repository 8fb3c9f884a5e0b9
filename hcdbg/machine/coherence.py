"""Broadcast maintenance across vCPUs: code one vCPU rewrites, and page tables it changes,
are seen by all.

Each vCPU is its own Unicorn instance, with its own cache of translated code and its own
TLB. QEMU applies a maintenance instruction only within the instance that executes it, so
another vCPU would keep running old instructions, or keep using a translation the guest
has removed (a 4-vCPU Linux: init killed by SIGSEGV, or a kernel oops, once a page it had
mapped on one CPU was remapped on another). The architecture says which maintenance
reaches every PE of the Inner (or Outer) Shareable domain:

- instructions (Arm ARM B2.2.5 "Concurrent modification and execution of instructions";
  DC CVAU, DSB, IC IVAU, DSB, ISB): `IC IVAU` (by address) and `IC IALLUIS`;
- translations (Arm ARM D8.13 "TLB maintenance"; break-before-make: invalidate the entry,
  DSB, TLBI ...IS, DSB): the TLBI forms ending in IS or OS, their range forms, and
  IPAS2E1IS. The local forms (TLBI VAE1, VMALLE1, ...) affect only the PE that runs them.

vCPUs take turns: while one runs, the others are stopped between instructions. So when a
vCPU executes a broadcast invalidation, every other vCPU drops its translated code (or its
whole TLB) before its next slice, which is before it could run any new code or walk the
new tables. Completion by DSB on the issuing PE is then implied.

Watching SYS instructions costs a Python call for each (DC ZVA and local TLBIs included:
about 3 us; 38,000 of them from Linux's start to its first PSCI call), so the compiled
filter (`_sysreg.c`) passes only the broadcast ones, and the watch is only set up once a
second vCPU has been powered on: a lone vCPU's own maintenance is done by its own instance.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UC_HOOK_INSN
from unicorn import arm64_const as arm64
from unicorn import unicorn_const as ucc

from hcdbg.machine import sysreg

if TYPE_CHECKING:
    from hcdbg.machine.vcpu import Vcpu

# (op0, op1, crn, crm, op2) of the broadcast I-cache invalidations (Arm ARM C5.3, "A64
# system instructions for cache maintenance"): IC IALLUIS = SYS #0, C7, C1, #0;
# IC IVAU = SYS #3, C7, C5, #1. IC IALLU (C7, C5, #0) is local to the PE: not watched.
_BROADCAST_IC = {(1, 0, 7, 1, 0), (1, 3, 7, 5, 1)}
# TLBI (Arm ARM C5.5, "A64 system instructions for TLB maintenance"): SYS with CRn 8 (9 for
# the FEAT_XS nXS forms); CRm 3 = Inner Shareable, 1 = Outer Shareable, 2 and 5 = their
# range forms, 0 = IPAS2E1IS/IPAS2LE1IS/RIPAS2E1IS (op1 4). CRm 7, 6 and 4 are local.
_TLBI_CRN = (8, 9)
_BROADCAST_TLBI_CRM = {0, 1, 2, 3, 5}


def broadcast(op0: int, op1: int, crn: int, crm: int, op2: int) -> str | None:
    """'code' or 'tlb' for a SYS instruction whose effect must reach every vCPU, else None."""
    if (op0, op1, crn, crm, op2) in _BROADCAST_IC:
        return "code"
    if op0 == 1 and crn in _TLBI_CRN and crm in _BROADCAST_TLBI_CRM:
        return "tlb"
    return None


class CoherenceWatch:
    """Counts broadcast invalidations; a vCPU that has not seen the latest one drops its
    translated code (IC) or its TLB (TLBI) before it runs again."""

    def __init__(self) -> None:
        self.armed = False  # set once several vCPUs have run
        self.code_epoch = 0  # broadcast I-cache invalidations executed so far
        self.tlb_epoch = 0  # broadcast TLB invalidations executed so far
        self._seen: dict[int, tuple[int, int]] = {}  # vCPU index -> (code, tlb) epochs it is from
        self._hooks: dict[int, int] = {}  # vCPU index -> hook handle
        self._keep: dict[int, list[object]] = {}  # the native hooks' ctypes objects

    def before_slice(self, vcpu: Vcpu) -> None:
        """Call before `vcpu` runs: watch it if armed, drop what is stale."""
        index = vcpu.index
        now = (self.code_epoch, self.tlb_epoch)
        if self.armed and index not in self._hooks:
            # Hooks are looked up when code is translated: retranslate with it.
            if sysreg.SYS_FILTER is not None and sysreg.native():
                # _sysreg.c lets only the broadcast forms through: DC ZVA costs no Python call.
                self._keep[index] = sysreg.add_filtered_hook(
                    vcpu.uc, arm64.UC_ARM64_INS_SYS, sysreg.SYS_FILTER, lambda _r, cp: self._on_sys(None, 0, cp, None))
                self._hooks[index] = 0
            else:
                self._hooks[index] = vcpu.uc.hook_add(UC_HOOK_INSN, self._on_sys, None, 1, 0,
                                                      arm64.UC_ARM64_INS_SYS)
            vcpu.uc.ctl_flush_tb()  # type: ignore[attr-defined]  # generated at runtime
        else:
            code, tlb = self._seen.get(index, now)
            if tlb != self.tlb_epoch:
                vcpu.uc.ctl(ucc.UC_CTL_TLB_FLUSH, ucc.UC_CTL_IO_WRITE)
            if code != self.code_epoch:
                vcpu.uc.ctl_flush_tb()  # type: ignore[attr-defined]
        self._seen[index] = now

    def _on_sys(self, _uc: object, _reg: int, cp: object, _data: object) -> int:
        kind = broadcast(cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)  # type: ignore[attr-defined]
        if kind == "code":
            self.code_epoch += 1
        elif kind == "tlb":
            self.tlb_epoch += 1
        return 0  # execute the instruction as usual
