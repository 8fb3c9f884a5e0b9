"""Register names a user can type, mapped to Unicorn register IDs or system-register tuples."""
from __future__ import annotations

from unicorn import arm64_const as arm64

from hcdbg.smccc.numbers import decimal

#: CP_REG (crn, crm, op0, op1, op2) of system registers Unicorn has no constant for.
SYSREGS: dict[str, tuple[int, int, int, int, int]] = {
    "sctlr_el1": (1, 0, 3, 0, 0),
    "spsr_el1": (4, 0, 3, 0, 0),
    "mpidr_el1": (0, 0, 3, 0, 5),
    "currentel": (4, 2, 3, 0, 2),
    "tcr_el1": (2, 0, 3, 0, 2),
}
SCR_EL3 = (1, 1, 3, 6, 0)
HCR_EL2 = (1, 1, 3, 4, 0)
CNTHCTL_EL2 = (14, 1, 3, 4, 0)
VMPIDR_EL2 = (0, 0, 3, 4, 5)

GPRS: dict[str, int] = {f"x{i}": arm64.UC_ARM64_REG_X0 + i for i in range(29)}
GPRS["x29"] = arm64.UC_ARM64_REG_X29
GPRS["x30"] = arm64.UC_ARM64_REG_X30

#: The first 18 GPRs: what an SMCCC call passes and returns (DEN0028 §2.6-2.7).
CALL_REGS = tuple(GPRS[f"x{i}"] for i in range(18))

REGS: dict[str, int] = dict(GPRS)
REGS.update({
    "sp": arm64.UC_ARM64_REG_SP,
    "pc": arm64.UC_ARM64_REG_PC,
    "pstate": arm64.UC_ARM64_REG_PSTATE,
    "elr_el1": arm64.UC_ARM64_REG_ELR_EL1,
    "esr_el1": arm64.UC_ARM64_REG_ESR_EL1,
    "far_el1": arm64.UC_ARM64_REG_FAR_EL1,
    "vbar_el1": arm64.UC_ARM64_REG_VBAR_EL1,
    "sp_el0": arm64.UC_ARM64_REG_SP_EL0,
    "sp_el1": arm64.UC_ARM64_REG_SP_EL1,
    "ttbr0_el1": arm64.UC_ARM64_REG_TTBR0_EL1,
    "ttbr1_el1": arm64.UC_ARM64_REG_TTBR1_EL1,
    "mair_el1": arm64.UC_ARM64_REG_MAIR_EL1,
    "tpidr_el1": arm64.UC_ARM64_REG_TPIDR_EL1,
    "fpsr": arm64.UC_ARM64_REG_FPSR,
    "fpcr": arm64.UC_ARM64_REG_FPCR,
})
#: The 128-bit SIMD&FP registers v0..v31 (the gdb stub's org.gnu.gdb.aarch64.fpu).
VREGS = tuple(arm64.UC_ARM64_REG_V0 + i for i in range(32))
ALIASES = {"fp": "x29", "lr": "x30", "cpsr": "pstate"}

#: What `info registers` shows, in order.
DISPLAY_ORDER = [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate", "elr_el1", "esr_el1",
                                                "far_el1", "spsr_el1", "vbar_el1", "sctlr_el1"]


def canonical(name: str) -> str | None:
    """The register's canonical lower-case name, or None if hcdbg does not know it."""
    n = name.lower().lstrip("$")
    number = decimal(n[1:])
    if n.startswith("w") and number is not None and number <= 30:
        return n  # 32-bit view of x<n>
    n = ALIASES.get(n, n)
    return n if n in REGS or n in SYSREGS else None


def all_names() -> list[str]:
    """Every name `canonical` accepts (for completion and error messages)."""
    return sorted(set(REGS) | set(SYSREGS) | set(ALIASES) | {f"w{i}" for i in range(31)})
