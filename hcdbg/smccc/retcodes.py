"""Return-code names of SMCCC, PSCI and TRNG: name <-> code tables; unknown ones give None.

Reading what a user types (numbers, names, with errors) is hcdbg/values.py's job."""
from __future__ import annotations

from enum import IntEnum

from hcdbg.smccc.ids import MASK32, MASK64, PsciRet, SmcccRet, TrngRet, s32, s64

#: Return-code tables by family: DEN0028 §7, DEN0022 §5.2, DEN0098 §2.1.
TABLES: dict[str, type[IntEnum]] = {"smccc": SmcccRet, "psci": PsciRet, "trng": TrngRet}

#: Other spellings of a table's names: Linux's PSCI_RET_INVALID_PARAMS, TF-A's
#: TRNG_E_INVALID_PARAMS, and DEN0098's and Linux kvm/trng.c's TRNG_INVALID_PARAMETER
#: (-2, while SMCCC's INVALID_PARAMETER is -3). They apply only inside their own table.
_ALIASES: dict[str, dict[str, str]] = {
    "psci": {"INVALID_PARAMS": "INVALID_PARAMETERS"},
    "trng": {"INVALID_PARAMS": "INVALID_PARAMETERS", "INVALID_PARAMETER": "INVALID_PARAMETERS"},
    "smccc": {},
}

#: Prefixes from C headers, and the table each one names.
_PREFIXES = (("ARM_SMCCC_RET_", "smccc"), ("SMCCC_RET_", "smccc"), ("PSCI_RET_", "psci"),
             ("TRNG_E_", "trng"), ("TRNG_RET_", "trng"), ("TRNG_", "trng"))


class AmbiguousCode(ValueError):
    """A return-code name with different values in different tables and no service to
    choose one (INVALID_PARAMETER: TRNG -2, SMCCC -3); the message lists the choices."""


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


def _family(service: str | None) -> str:
    return service if service in ("psci", "trng") else "smccc"


def _in_table(family: str, key: str) -> int | None:
    member = TABLES[family].__members__.get(_ALIASES[family].get(key, key))
    return None if member is None else int(member)


def code_value(name: str, service: str | None = None) -> int | None:
    """The signed value of return-code `name` (case-insensitive); None if no table has it.

    A header prefix picks the table (TRNG_INVALID_PARAMETER -2, SMCCC_RET_INVALID_PARAMETER
    -3); otherwise `service`'s table is asked first, then every table. A name the tables
    give different values raises AmbiguousCode naming them (INVALID_PARAMETER asked for a
    PSCI call: TRNG -2, SMCCC -3)."""
    key = name.strip().upper().replace("-", "_")
    for prefix, family in _PREFIXES:
        if key.startswith(prefix):
            return _in_table(family, key[len(prefix):])
    if service is not None:
        value = _in_table(_family(service), key)
        if value is not None:
            return value
    found = {family: v for family in TABLES if (v := _in_table(family, key)) is not None}
    if len(set(found.values())) > 1:
        choices = ", ".join(f"{family.upper()} {v}" for family, v in found.items())
        spelled = " or ".join(f"{_spelling(family)}{key}" for family in found)
        raise AmbiguousCode(f"{key} means {choices}; say which: {spelled}, or a number")
    return next(iter(found.values()), None)


def _spelling(family: str) -> str:
    return {"smccc": "SMCCC_RET_", "psci": "PSCI_RET_", "trng": "TRNG_"}[family]


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
