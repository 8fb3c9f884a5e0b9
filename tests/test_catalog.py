"""The function catalog, services, return codes and teaching text (reference §1-§3)."""
from __future__ import annotations

import pytest

from hcdbg.smccc.catalog import SERVICES, all_functions, find, lookup, service_of
from hcdbg.smccc.explain import explain
from hcdbg.smccc.retcodes import code_value, retcode_name

M64 = (1 << 64) - 1

# Reference §2.1: (name, SMC32 ID, SMC64 ID, since), typed in from the table.
PSCI = [
    ("PSCI_VERSION", 0x84000000, None, "PSCI 0.2"),
    ("PSCI_CPU_SUSPEND", 0x84000001, 0xC4000001, "PSCI 0.2"),
    ("PSCI_CPU_OFF", 0x84000002, None, "PSCI 0.2"),
    ("PSCI_CPU_ON", 0x84000003, 0xC4000003, "PSCI 0.2"),
    ("PSCI_AFFINITY_INFO", 0x84000004, 0xC4000004, "PSCI 0.2"),
    ("PSCI_MIGRATE", 0x84000005, 0xC4000005, "PSCI 0.2"),
    ("PSCI_MIGRATE_INFO_TYPE", 0x84000006, None, "PSCI 0.2"),
    ("PSCI_MIGRATE_INFO_UP_CPU", 0x84000007, 0xC4000007, "PSCI 0.2"),
    ("PSCI_SYSTEM_OFF", 0x84000008, None, "PSCI 0.2"),
    ("PSCI_SYSTEM_RESET", 0x84000009, None, "PSCI 0.2"),
    ("PSCI_FEATURES", 0x8400000A, None, "PSCI 1.0"),
    ("PSCI_CPU_FREEZE", 0x8400000B, None, "PSCI 1.0"),
    ("PSCI_CPU_DEFAULT_SUSPEND", 0x8400000C, 0xC400000C, "PSCI 1.0"),
    ("PSCI_NODE_HW_STATE", 0x8400000D, 0xC400000D, "PSCI 1.0"),
    ("PSCI_SYSTEM_SUSPEND", 0x8400000E, 0xC400000E, "PSCI 1.0"),
    ("PSCI_SET_SUSPEND_MODE", 0x8400000F, None, "PSCI 1.0"),
    ("PSCI_STAT_RESIDENCY", 0x84000010, 0xC4000010, "PSCI 1.0"),
    ("PSCI_STAT_COUNT", 0x84000011, 0xC4000011, "PSCI 1.0"),
    ("PSCI_SYSTEM_RESET2", 0x84000012, 0xC4000012, "PSCI 1.1"),
    ("PSCI_MEM_PROTECT", 0x84000013, None, "PSCI 1.1"),
    ("PSCI_MEM_PROTECT_CHECK_RANGE", 0x84000014, 0xC4000014, "PSCI 1.1"),
    ("PSCI_SYSTEM_OFF2", 0x84000015, 0xC4000015, "PSCI 1.3"),
    ("PSCI_CLEAN_INV_MEMREGION", None, 0xC4000016, "PSCI 1.3"),
    ("PSCI_CLEAN_INV_MEMREGION_ATTRIBUTES", 0x84000017, None, "PSCI 1.3"),
]


@pytest.mark.parametrize(("name", "id32", "id64", "since"), PSCI)
def test_every_psci_function_in_both_ids(name: str, id32: int | None, id64: int | None,
                                         since: str) -> None:
    ids = [i for i in (id32, id64) if i is not None]
    for fid in ids:
        function = lookup(fid)
        assert function is not None, hex(fid)
        assert (function.name, function.service, function.since) == (name, "psci", since)
        assert function.smc64 == (fid == id64)
    assert [f.fid for f in find(name)] == ids


def test_psci_catalog_has_exactly_the_reference_ids() -> None:
    expected = {i for _, a, b, _ in PSCI for i in (a, b) if i is not None}
    assert len(expected) == 37
    catalog = {f.fid for f in all_functions() if f.service == "psci" and f.smccc}
    assert catalog == expected


def test_psci_0_1_ids() -> None:
    # KVM/QEMU's PSCI 0.1 IDs, reference §2.1.
    expected = {0x95C1BA5E: "PSCI_0_1_CPU_SUSPEND", 0x95C1BA5F: "PSCI_0_1_CPU_OFF",
                0x95C1BA60: "PSCI_0_1_CPU_ON", 0x95C1BA61: "PSCI_0_1_MIGRATE"}
    for fid, name in expected.items():
        function = lookup(fid)
        assert function is not None and function.name == name and function.service == "psci"
    assert [f.fid for f in find("PSCI_0_1_CPU_ON")] == [0x95C1BA60]


@pytest.mark.parametrize(
    ("fid", "name", "service"),
    [
        # Reference §1.6
        (0x80000000, "SMCCC_VERSION", "smccc-arch"),
        (0x80000001, "SMCCC_ARCH_FEATURES", "smccc-arch"),
        (0x80000002, "SMCCC_ARCH_SOC_ID", "smccc-arch"),
        (0xC0000002, "SMCCC_ARCH_SOC_ID", "smccc-arch"),
        (0x80008000, "SMCCC_ARCH_WORKAROUND_1", "smccc-arch"),
        (0x80007FFF, "SMCCC_ARCH_WORKAROUND_2", "smccc-arch"),
        (0x80003FFF, "SMCCC_ARCH_WORKAROUND_3", "smccc-arch"),
        # Reference §3.1
        (0x84000050, "TRNG_VERSION", "trng"),
        (0x84000051, "TRNG_FEATURES", "trng"),
        (0x84000052, "TRNG_GET_UUID", "trng"),
        (0x84000053, "TRNG_RND32", "trng"),
        (0xC4000053, "TRNG_RND64", "trng"),
        # Reference §1.2 and §4.5
        (0xC5000020, "PV_TIME_FEATURES", "pv-time"),
        (0xC5000021, "PV_TIME_ST", "pv-time"),
        (0x8600FF01, "VENDOR_HYP_CALL_UID", "vendor-hyp"),
        (0x86000000, "VENDOR_HYP_KVM_FEATURES", "vendor-hyp"),
        (0x86000001, "VENDOR_HYP_KVM_PTP", "vendor-hyp"),
    ],
)
def test_other_services(fid: int, name: str, service: str) -> None:
    function = lookup(fid)
    assert function is not None
    assert (function.name, function.service) == (name, service)
    assert service_of(fid) == service


def test_standard_service_uid_query() -> None:
    # 0x8400FF01 = standard secure service call UID (reference §1.2).
    function = lookup(0x8400FF01)
    assert function is not None and function.service == "std-secure"


def test_lookup_uses_w0_only() -> None:
    function = lookup(0xFFFF_FFFF_8400_0000)
    assert function is not None and function.name == "PSCI_VERSION"
    assert lookup(0x8200_0000) is None


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("PSCI_CPU_ON", [0x84000003, 0xC4000003]),
        ("psci_cpu_on", [0x84000003, 0xC4000003]),
        ("CPU_ON", [0x84000003, 0xC4000003]),
        ("PSCI_CPU_ON_64", [0xC4000003]),
        ("PSCI_CPU_ON64", [0xC4000003]),
        ("cpu_on_64", [0xC4000003]),
        ("PSCI_CPU_ON_32", [0x84000003]),
        ("TRNG_RND64", [0xC4000053]),
        ("TRNG_RND32", [0x84000053]),
        ("PSCI_SYSTEM_OFF2", [0x84000015, 0xC4000015]),
        ("SMCCC_ARCH_SOC_ID_64", [0xC0000002]),
        ("no_such_function", []),
    ],
)
def test_find(name: str, ids: list[int]) -> None:
    assert [f.fid for f in find(name)] == ids


def test_catalog_is_consistent() -> None:
    seen = set()
    for function in all_functions():
        assert lookup(function.fid) is function
        assert SERVICES[function.service].contains(function.fid), function.name
        assert service_of(function.fid) == function.service, function.name
        key = (function.name, function.smc64)
        assert key not in seen, key
        seen.add(key)
        for code in function.returns:
            assert code_value(code, function.service) is not None, (function.name, code)


def test_service_ranges() -> None:
    assert SERVICES["psci"].ranges == ((0x84000000, 0x20), (0xC4000000, 0x20),
                                       (0x95C1BA5E, 4))
    assert SERVICES["trng"].ranges == ((0x84000050, 4), (0xC4000050, 4))
    assert SERVICES["smccc-arch"].ranges == ((0x80000000, 0x10000), (0xC0000000, 0x10000))
    assert SERVICES["vendor-hyp"].ranges == ((0x86000000, 0x10000), (0xC6000000, 0x10000))
    assert SERVICES["sip"].ranges == ((0x82000000, 0x10000), (0xC2000000, 0x10000))
    for name in ("sip", "oem", "std-secure", "std-hyp", "cpu", "trusted-os", "trusted-app",
                 "vendor-el3"):
        assert name in SERVICES


@pytest.mark.parametrize(
    ("fid", "service"),
    [
        (0x84000063, "std-secure"),  # FFA_VERSION: in OEN 4 but not PSCI/TRNG
        (0x82000000, "sip"),
        (0xC3000001, "oem"),
        (0x81000000, "cpu"),
        (0x87000000, "vendor-el3"),
        (0xB2000000, "trusted-os"),
        (0xF1000000, "trusted-app"),
        (0x88000000, "unknown"),  # reserved OEN
        (0x04000000, "unknown"),  # a yielding call
        # bit 17 set: outside the fast-call IDs of OEN 4 (TF-A common/runtime_svc.c: bits 23:17
        # of a fast call must be zero; bit 16 is the SVE hint, tested in test_smccc_decode)
        (0x84020000, "unknown"),
    ],
)
def test_service_of(fid: int, service: str) -> None:
    assert service_of(fid) == service


# --- return codes (reference §1.5, §2.2, §3.1) -------------------------------------------

PSCI_CODES = {
    "SUCCESS": 0, "NOT_SUPPORTED": -1, "INVALID_PARAMETERS": -2, "DENIED": -3,
    "ALREADY_ON": -4, "ON_PENDING": -5, "INTERNAL_FAILURE": -6, "NOT_PRESENT": -7,
    "DISABLED": -8, "INVALID_ADDRESS": -9, "TIMEOUT": -10, "RATE_LIMITED": -11, "BUSY": -12,
}


@pytest.mark.parametrize(("name", "value"), PSCI_CODES.items())
def test_psci_return_codes(name: str, value: int) -> None:
    assert code_value(name, "psci") == value
    assert retcode_name("psci", value & M64) == name


def test_retcode_name() -> None:
    assert retcode_name("psci", M64 - 3) == "ALREADY_ON"
    assert retcode_name("psci", M64 - 2) == "DENIED"
    assert retcode_name("trng", M64 - 2) == "NO_ENTROPY"
    assert retcode_name("smccc-arch", M64 - 2) == "INVALID_PARAMETER"
    assert retcode_name("vendor-hyp", M64) == "NOT_SUPPORTED"
    assert retcode_name("psci", 0) == "SUCCESS"
    assert retcode_name("psci", 5) is None
    # An SMC32 result is w0: 0xFFFFFFFC is -4 there, a positive number in x0.
    assert retcode_name("psci", 0xFFFF_FFFC) is None
    assert retcode_name("psci", 0xFFFF_FFFC, smc32=True) == "ALREADY_ON"


# --- explain ------------------------------------------------------------------------------

def test_explain_known_id() -> None:
    text = "\n".join(explain(0xC4000003))
    assert "PSCI_CPU_ON (SMC64)" in text
    assert "owning entity: Standard Secure" in text
    assert "0x0003  function number" in text
    assert "DEN0022" in text
    assert "ALREADY_ON = -4" in text
    assert "x1 target_cpu" in text


def test_explain_name_gives_both_ids() -> None:
    text = "\n".join(explain("CPU_ON"))
    assert "0x84000003" in text and "0xc4000003" in text
    assert "w1 target_cpu" in text  # SMC32: W registers


def test_explain_kvm_and_qemu_answers() -> None:
    text = "\n".join(explain("PSCI_VERSION"))
    # Linux include/kvm/arm_psci.h: KVM_ARM_PSCI_LATEST = KVM_ARM_PSCI_1_3 from 6.13, 1_1 before
    assert "0x10003 (PSCI 1.3) from Linux 6.13, 0x10001 (1.1) before" in text
    # QEMU 7.2 target/arm/psci.c: PSCI_VERSION -> QEMU_PSCI_VERSION_1_1, unconditionally
    assert "QEMU (TCG) answers: 0x10001 (PSCI 1.1), always" in text
    assert "older QEMU" not in text


def test_explain_unknown_id_still_explains_fields() -> None:
    text = "\n".join(explain(0x82000010))
    assert "owning entity: SiP" in text
    assert "function number" in text
    assert "NOT_SUPPORTED" in text


def test_explain_shows_problems() -> None:
    text = "\n".join(explain(0x84020000))
    assert "bits 23:17 must be zero" in text


def test_explain_service() -> None:
    text = "\n".join(explain("psci"))
    assert "PSCI_VERSION" in text and "0x84000000-0x8400001f" in text


def test_explain_unknown_name_never_raises() -> None:
    # values.function_or_name rejects it with suggestions before explain is called.
    assert explain("PSCI_CPU_OM") == ["PSCI_CPU_OM: no function or service of that name"]
