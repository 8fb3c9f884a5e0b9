"""Return-code names of SMCCC, PSCI and TRNG: name <-> code tables; unknown ones give None.

Reading what a user types (numbers, names, with errors) is hcdbg/values.py's job."""
from __future__ import annotations

from enum import IntEnum

from hcdbg.smccc.ids import MASK32, MASK64, PsciRet, SmcccRet, TrngRet, s32, s64

#: Return-code tables by family: DEN0028 §7 (reference §1.5), DEN0022 §5.2 (reference §2.2),
#: DEN0098 §2.1 (reference §3.1).
TABLES: dict[str, type[IntEnum]] = {"smccc": SmcccRet, "psci": PsciRet, "trng": TrngRet}

#: Other spellings users meet in Linux/QEMU headers (PSCI_RET_INVALID_PARAMS, reference §2.1).
_ALIASES = {"INVALID_PARAMS": "INVALID_PARAMETERS"}

#: Prefixes from C headers that we drop before looking a name up.
_PREFIXES = ("ARM_SMCCC_RET_", "SMCCC_RET_", "PSCI_RET_", "TRNG_RET_")


def table_for(service: str | None) -> type[IntEnum]:
    """The return-code table a service's functions use: PSCI and TRNG have their own,
    every other service (Arm architecture, vendor hyp, PV time, ...) the SMCCC one."""
    if service in ("psci", "trng"):
        return TABLES[service]
    return SmcccRet


def retcode_name(service: str | None, value: int, smc32: bool = False) -> str | None:
    """The name of a return code in `service`'s table, or None.

    `value` is a 64-bit register value read sign-extended (0xFFFF_FFFF_FFFF_FFFE -> -2).
    With `smc32`, the low 32 bits alone are also tried (w0 of an SMC32 call, DEN0028 §2.6),
    so 0xFFFF_FFFE names -2 too; without it, 0xFFFF_FFFE is a positive number.
    """
    table = table_for(service)
    for candidate in (s64(value), s32(value) if smc32 else None):
        if candidate is None:
            continue
        try:
            return table(candidate).name
        except ValueError:
            continue
    return None


def all_names() -> list[str]:
    """Every return-code name of every table, each once."""
    names: list[str] = []
    for table in TABLES.values():
        names.extend(m.name for m in table if m.name not in names)
    return names


def code_value(name: str, service: str | None = None) -> int | None:
    """The signed value of return-code `name` (case-insensitive), looked up in `service`'s
    table first, then PSCI, SMCCC, TRNG; None if no table has it.

    The order matters for names two tables share with different values: PSCI
    INVALID_PARAMETERS = -2 but SMCCC INVALID_PARAMETER = -3 and TRNG NO_ENTROPY = -3."""
    key = name.strip().upper().replace("-", "_")
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    key = _ALIASES.get(key, key)
    order: list[type[IntEnum]] = [table_for(service), PsciRet, SmcccRet, TrngRet]
    for table in order:
        member = table.__members__.get(key)
        if member is not None:
            return int(member)
    return None


def describe_code(service: str | None, name: str, smc64: bool | None = None) -> str:
    """"INVALID_PARAMETERS = -2 (x0 0xfffffffffffffffe)" for teaching output: the register
    view of a negative code is w0 for an SMC32 call, x0 for SMC64, both if `smc64` is None."""
    value = code_value(name, service)
    if value is None:
        return name
    if value >= 0:
        return f"{name} = {value}"
    views = []
    if smc64 is not True:
        views.append(f"w0 0x{value & MASK32:08x}")
    if smc64 is not False:
        views.append(f"x0 0x{value & MASK64:016x}")
    return f"{name} = {value} ({', '.join(views)})"
