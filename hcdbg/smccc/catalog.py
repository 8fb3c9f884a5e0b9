"""The catalog: services (named ID ranges) and every known function, looked up by ID or name."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from hcdbg.smccc.catalog_other import (
    ARCH_FUNCTIONS,
    PV_TIME_FUNCTIONS,
    QUERY_FUNCTIONS,
    TRNG_FUNCTIONS,
    VENDOR_HYP_FUNCTIONS,
)
from hcdbg.smccc.catalog_psci import PSCI_0_1_FUNCTIONS, PSCI_FUNCTIONS
from hcdbg.smccc.function import Arg, Function
from hcdbg.smccc.ids import FID_FAST, FID_SVE_HINT, MASK32

__all__ = [
    "Arg", "Function", "Service", "SERVICES", "lookup", "find", "all_functions", "names",
    "suggest", "service_of", "service_names", "width_name",
]


@dataclass(frozen=True)
class Service:
    """A named set of function-ID ranges, (base, count) each, that a user can filter on."""

    name: str
    description: str
    ranges: tuple[tuple[int, int], ...]

    def contains(self, fid: int) -> bool:
        """True if `fid` lies in one of the ranges."""
        return any(base <= fid < base + count for base, count in self.ranges)


def _owner(oen: int) -> tuple[tuple[int, int], ...]:
    """The fast-call IDs of one owning entity, SMC32 then SMC64 (DEN0028 §2.5 table 2-1:
    bits 23:16 are zero in a fast call, so each width has 0x10000 IDs)."""
    return ((0x8000_0000 | oen << 24, 0x1_0000), (0xC000_0000 | oen << 24, 0x1_0000))


# Order matters: service_of() answers with the first service that contains the ID, so the
# services inside an owner's range (PSCI, TRNG, PV time) come before the owners.
_SERVICE_LIST = (
    Service("psci", "Power State Coordination Interface (DEN0022): CPU and system power",
            ((0x8400_0000, 0x20), (0xC400_0000, 0x20), (0x95C1_BA5E, 4))),
    Service("trng", "True Random Number Generator firmware interface (DEN0098)",
            ((0x8400_0050, 4), (0xC400_0050, 4))),
    Service("pv-time", "Paravirtualized time: stolen-time reporting (DEN0057)",
            ((0xC500_0020, 2),)),
    Service("smccc-arch", "Arm Architecture calls, OEN 0 (DEN0028 §7): SMCCC_VERSION, "
            "ARCH_FEATURES, SOC_ID, Spectre workarounds", _owner(0)),
    Service("vendor-hyp", "Vendor-specific hypervisor service, OEN 6 (KVM: UID, features, "
            "PTP; pKVM: memory sharing, MMIO guard)", _owner(6)),
    Service("cpu", "CPU service calls, OEN 1", _owner(1)),
    Service("sip", "Silicon Provider (SiP) service calls, OEN 2: platform-specific", _owner(2)),
    Service("oem", "OEM service calls, OEN 3", _owner(3)),
    Service("std-secure", "Standard Secure service calls, OEN 4: PSCI, SDEI, TRNG, FF-A, ...",
            _owner(4)),
    Service("std-hyp", "Standard Hypervisor service calls, OEN 5: PV time, ...", _owner(5)),
    Service("vendor-el3", "Vendor-specific EL3 monitor calls, OEN 7 (TF-A)", _owner(7)),
    # Trusted applications/OSes get whole OENs, bits 23:16 included, because legacy
    # Trusted OS fast calls set those bits (DEN0028 table 2-1 note [R]).
    Service("trusted-app", "Trusted Application calls, OEN 48-49",
            ((0xB000_0000, 0x0200_0000), (0xF000_0000, 0x0200_0000))),
    Service("trusted-os", "Trusted OS calls, OEN 50-63",
            ((0xB200_0000, 0x0E00_0000), (0xF200_0000, 0x0E00_0000))),
)

#: Every service by short name.
SERVICES: dict[str, Service] = {s.name: s for s in _SERVICE_LIST}

_ALL: tuple[Function, ...] = (
    *ARCH_FUNCTIONS, *PSCI_FUNCTIONS, *PSCI_0_1_FUNCTIONS, *TRNG_FUNCTIONS,
    *PV_TIME_FUNCTIONS, *VENDOR_HYP_FUNCTIONS, *QUERY_FUNCTIONS,
)

#: Prefixes a user may leave out when naming a function ("CPU_ON" for PSCI_CPU_ON).
_ALIAS_PREFIXES = {"psci": "PSCI_", "smccc-arch": "SMCCC_", "trng": "TRNG_",
                   "vendor-hyp": "VENDOR_HYP_"}


def _index() -> tuple[dict[int, Function], dict[str, list[Function]], dict[str, list[Function]]]:
    by_fid: dict[int, Function] = {}
    by_name: dict[str, list[Function]] = {}
    by_alias: dict[str, list[Function]] = {}
    for fn in _ALL:
        if fn.fid in by_fid:
            raise AssertionError(f"catalog: 0x{fn.fid:08x} listed twice")
        by_fid[fn.fid] = fn
        by_name.setdefault(fn.name, []).append(fn)
    for fn in _ALL:
        prefix = _ALIAS_PREFIXES.get(fn.service)
        if fn.smccc and prefix and fn.name.startswith(prefix):
            short = fn.name[len(prefix):]
            if short not in by_name:
                by_alias.setdefault(short, []).append(fn)
    return by_fid, by_name, by_alias


_BY_FID, _BY_NAME, _BY_ALIAS = _index()


def lookup(fid: int) -> Function | None:
    """The function with ID `fid` (only W0 counts), or None.

    A fast call with bit 16 set is the same function with the SMCCC 1.3 SVE hint (DEN0028
    §2.5; TF-A common/runtime_svc.c clears the bit before dispatch), unless the ID itself is
    listed (PSCI 0.1's 0x95C1BA5E has bit 16 set)."""
    fid &= MASK32
    found = _BY_FID.get(fid)
    if found is None and fid & FID_FAST and fid & FID_SVE_HINT:
        hinted = _BY_FID.get(fid & ~FID_SVE_HINT)
        if hinted is not None and hinted.smccc:
            return hinted
    return found


def all_functions() -> tuple[Function, ...]:
    """Every function of the catalog, grouped by service."""
    return _ALL


def names() -> list[str]:
    """Every function name, sorted (for completion and suggestions)."""
    return sorted(_BY_NAME)


def service_names() -> list[str]:
    """Every service short name, in lookup order."""
    return list(SERVICES)


def _resolve(key: str) -> list[Function]:
    found = _BY_NAME.get(key)
    if found is None:
        found = _BY_ALIAS.get(key)
    return list(found or ())


def find(name: str) -> list[Function]:
    """The functions called `name` (case-insensitive), sorted by ID; empty if none.

    "PSCI_CPU_ON" and "CPU_ON" give both IDs; "PSCI_CPU_ON_64", "PSCI_CPU_ON64" (or _32)
    only one. A short name shared by services ("VERSION") gives all of them.
    """
    key = name.strip().upper().replace("-", "_")
    found = _resolve(key)
    if not found:
        for suffix, smc64 in (("_64", True), ("64", True), ("_32", False), ("32", False)):
            if key.endswith(suffix):
                found = [f for f in _resolve(key[: -len(suffix)]) if f.smc64 == smc64]
                break
    return sorted(found, key=lambda f: f.fid)


def width_name(fn: Function) -> str:
    """The function's name, with `_64` when it also has an SMC32 ID (PSCI_CPU_ON_64): the
    one name of one function ID."""
    if fn.smc64 and len(_BY_NAME.get(fn.name, ())) > 1:
        return fn.name + "_64"
    return fn.name


def suggest(name: str, n: int = 3) -> list[str]:
    """The known function names closest to `name`, best first."""
    key = name.strip().upper().replace("-", "_")
    return difflib.get_close_matches(key, [*_BY_NAME, *_BY_ALIAS], n=n)


def service_of(fid: int) -> str:
    """The short name of the service `fid` belongs to, or "unknown" (yielding calls,
    reserved OENs, fast calls with bits 23:16 set outside the Trusted OS/App ranges)."""
    fid &= MASK32
    for service in _SERVICE_LIST:
        if service.contains(fid):
            return service.name
    if fid & FID_FAST and fid & FID_SVE_HINT:  # the SMCCC 1.3 SVE hint (see lookup)
        return service_of(fid & ~FID_SVE_HINT)
    return "unknown"
