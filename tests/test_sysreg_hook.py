"""What Unicorn 2.1.4's UC_HOOK_INSN does with MRS/MSR on arm64: the facts the timer's
wiring rests on (measured; see the wt-gic notes in README)."""
from __future__ import annotations

from typing import Any

from unicorn import UC_ARCH_ARM64, UC_HOOK_INSN, UC_MODE_ARM, Uc
from unicorn import arm64_const as A

from hcdbg.machine import registers as R
from hcdbg.machine.timer import ENCODINGS, Reg

BASE = 0x4000_0000
NOP = 0xD503201F


def sysreg(read: bool, op0: int, op1: int, crn: int, crm: int, op2: int, rt: int) -> int:
    """MRS (L=1) / MSR (L=0) Xt, S<op0>_<op1>_C<crn>_C<crm>_<op2> (DDI 0487 C6.2)."""
    return 0xD500_0000 | read << 21 | op0 << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5 | rt


CNTV_CTL = (3, 3, 14, 3, 1)
CNTV_CVAL = (3, 3, 14, 3, 2)


def machine(words: list[int]) -> Uc:
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM64_A57)
    uc.mem_map(BASE, 0x1000)
    uc.mem_write(BASE, b"".join(w.to_bytes(4, "little") for w in words))
    uc.reg_write(A.UC_ARM64_REG_CP_REG, R.SCR_EL3 + (0x501,))
    uc.reg_write(A.UC_ARM64_REG_CP_REG, R.CNTHCTL_EL2 + (3,))
    uc.reg_write(A.UC_ARM64_REG_CP_REG, R.HCR_EL2 + (1 << 31,))
    return uc


def test_mrs_hook_gives_the_read_its_value_and_skips() -> None:
    """The callback is (uc, reg, cp_reg, user_data): reg is UC_ARM64_REG_X<t> (XZR for 31),
    cp_reg = (crn, crm, op0, op1, op2, val) with val = Xt's value before the instruction;
    writing reg and returning 1 makes that the result; PC in the hook is the MRS itself."""
    uc = machine([sysreg(True, *CNTV_CTL, 3), sysreg(True, *CNTV_CTL, 31), NOP])
    seen: list[Any] = []

    def hook(uc: Uc, reg: int, cp: Any, _ud: Any) -> int:
        key = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)
        seen.append((reg, ENCODINGS.get(key), cp.val, uc.reg_read(A.UC_ARM64_REG_PC)))
        if reg != A.UC_ARM64_REG_XZR:
            uc.reg_write(reg, 0x5)
        return 1

    uc.hook_add(UC_HOOK_INSN, hook, None, 1, 0, A.UC_ARM64_INS_MRS)
    uc.reg_write(A.UC_ARM64_REG_X3, 0x77)
    uc.emu_start(BASE, BASE + 12)
    assert seen == [(A.UC_ARM64_REG_X3, Reg.CNTV_CTL_EL0, 0x77, BASE),
                    (A.UC_ARM64_REG_XZR, Reg.CNTV_CTL_EL0, 0, BASE + 4)]
    assert uc.reg_read(A.UC_ARM64_REG_X3) == 5


def test_msr_hook_sees_the_value_and_return_0_runs_the_instruction() -> None:
    """MSR: cp_reg.val is the value written. Returning 0 lets Unicorn execute it, and
    Unicorn itself drops guest writes to CNTV_CTL/CVAL (its gt_*_write are compiled out):
    the model must own the timer registers."""
    uc = machine([sysreg(False, *CNTV_CVAL, 1), sysreg(False, *CNTV_CTL, 2), NOP])
    seen: list[int] = []
    uc.hook_add(UC_HOOK_INSN, lambda _u, _r, cp, _d: seen.append(cp.val) or 0,
                None, 1, 0, A.UC_ARM64_INS_MSR)
    uc.reg_write(A.UC_ARM64_REG_X1, 1234)
    uc.reg_write(A.UC_ARM64_REG_X2, 1)
    uc.emu_start(BASE, BASE + 12)
    assert seen == [1234, 1]
    assert uc.reg_read(A.UC_ARM64_REG_CP_REG, (14, 3, 3, 3, 2)) == 0  # CVAL not written
    assert uc.reg_read(A.UC_ARM64_REG_CP_REG, (14, 3, 3, 3, 1)) == 0  # CTL not written


def test_msr_immediate_forms_do_not_reach_the_hook() -> None:
    """MSR DAIFSet/DAIFClr (op0 = 0) are not MSR-register: only op0 2/3 reach the MRS/MSR
    hooks (op0 = 1 reach UC_ARM64_INS_SYS/SYSL)."""
    uc = machine([0xD50342FF, 0xD50343DF, NOP])  # msr daifclr, #2; msr daifset, #3
    seen: list[int] = []
    uc.hook_add(UC_HOOK_INSN, lambda *_a: seen.append(1) or 0, None, 1, 0, A.UC_ARM64_INS_MSR)
    uc.emu_start(BASE, BASE + 12)
    assert seen == []
