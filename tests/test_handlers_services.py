"""SMCCC arch calls, KVM vendor hyp, PV time, deny, register writing per profile, the table.

Values from the reference (§1.5, §1.6, §4.5, §6, §7) unless a comment names the source.
"""
from __future__ import annotations

import pytest

from handlers_support import Board, ClockBoard, call, u64
from hcdbg.errors import UsageError
from hcdbg.handlers.registry import TABLE, Firmware, FirmwareConfig

ARCH_FEATURES, SOC_ID = 0x8000_0001, 0x8000_0002
WA1, WA2, WA3 = 0x8000_8000, 0x8000_7FFF, 0x8000_3FFF
PV_FEATURES, PV_ST = 0xC500_0020, 0xC500_0021
NOT_SUPPORTED = u64(-1)


def fw(**config) -> Firmware:
    return Firmware(FirmwareConfig(**config))


def x0(firmware: Firmware, the_call, board=None) -> int:
    return firmware.answer(the_call, board or Board()).regs[0]


# --- SMCCC_VERSION / ARCH_FEATURES / SOC_ID ----------------------------------------------------

def test_kvm_arch_features_for_workarounds() -> None:
    # reference §1.6, §7 item 2: unaffected host -> WA1 +1, WA2 -2 (NOT_REQUIRED), WA3 +1
    firmware = fw()
    assert [x0(firmware, call(ARCH_FEATURES, w)) for w in (WA1, WA2, WA3)] == [1, u64(-2), 1]


def test_workaround_answers_are_configurable() -> None:
    firmware = fw(workarounds=(0, 1, -1))
    assert [x0(firmware, call(ARCH_FEATURES, w)) for w in (WA1, WA2, WA3)] == [0, 1, NOT_SUPPORTED]


@pytest.mark.parametrize("queried", [0x8000_0000, 0x8000_0001, SOC_ID, 0x8400_0000, 0x8400_0050])
def test_kvm_arch_features_everything_else(queried) -> None:
    # reference §4.5: anything else (SOC_ID, SMCCC_VERSION itself) -> -1
    assert fw(pv_time=False).answer(call(ARCH_FEATURES, PV_FEATURES), Board()).regs[0] == NOT_SUPPORTED
    assert fw().answer(call(ARCH_FEATURES, queried), Board()).regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0}


def test_tfa_arch_features_for_itself() -> None:
    # reference §1.6: TF-A returns 0 for SMCCC_VERSION and ARCH_FEATURES
    tfa = fw(profile="tf-a")
    assert x0(tfa, call(ARCH_FEATURES, 0x8000_0000)) == 0
    assert x0(tfa, call(ARCH_FEATURES, ARCH_FEATURES)) == 0


@pytest.mark.parametrize(("version", "word"), [((1, 1), 0x10001), ((1, 2), 0x10002)])
def test_smccc_version_is_configurable(version, word) -> None:
    assert x0(fw(smccc_version=version), call(0x8000_0000)) == word


def test_smccc_1_0_has_no_smccc_version() -> None:
    # reference §1.6: not implemented -> -1, which callers read as 1.0; ARCH_FEATURES is 1.1+
    firmware = fw(smccc_version=(1, 0))
    assert x0(firmware, call(0x8000_0000)) == NOT_SUPPORTED
    assert x0(firmware, call(ARCH_FEATURES, WA1)) == NOT_SUPPORTED
    assert x0(firmware, call(0x8400_000A, 0x8000_0000)) == NOT_SUPPORTED  # PSCI_FEATURES agrees


def test_soc_id() -> None:
    # reference §1.6: w1 0 = version, 1 = revision, else -3; only when implemented
    assert fw().answer(call(SOC_ID, 0), Board()).regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0}
    firmware = fw(soc_id=(0x0A0B_1234, 0x5), smccc_version=(1, 2))
    assert x0(firmware, call(ARCH_FEATURES, SOC_ID)) == 0
    assert firmware.answer(call(SOC_ID, 0), Board()).regs == {0: 0x0A0B_1234, 1: 0, 2: 0, 3: 0}
    assert x0(firmware, call(SOC_ID, 1)) == 0x5
    assert x0(firmware, call(SOC_ID, 2)) == u64(-3)


def test_kvm_workaround_calls() -> None:
    # Linux hyp-entry.S el1_hvc_guest: HVC fast path -> x0 = 0, x1 (scratch) = 0; over SMC the
    # ID is neither default-allowed nor in a bitmap (hypercalls.c) -> denied: -1, x1..x3 = 0
    for wa in (WA1, WA2, WA3):
        assert fw().answer(call(wa, 1, 2, 3), Board()).regs == {0: 0, 1: 0}
        assert fw().answer(call(wa, conduit="smc"), Board()).regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0}


def test_tfa_workaround_calls_write_nothing() -> None:
    # TF-A arm_arch_svc: SMC_RET0 for an implemented workaround
    tfa = fw(profile="tf-a", workarounds=(0, -1, 1))
    assert tfa.answer(call(WA1), Board()).regs == {}
    assert tfa.answer(call(WA2), Board()).regs == {0: NOT_SUPPORTED}


def test_tfa_ignores_the_sve_hint_bit() -> None:
    # reference §1.1, §7 item 8: SMCCC 1.3 bit 16 of a fast call is the SVE hint
    tfa = fw(profile="tf-a")
    assert tfa.answer(call(0x8401_0000), Board()).regs == {0: 0x10001}
    assert x0(fw(), call(0x8401_0000)) == NOT_SUPPORTED  # KVM (SMCCC 1.1): an unknown ID


# --- vendor hypervisor service (KVM) ------------------------------------------------------------

def test_kvm_features_bitmap_needs_a_clock_for_ptp() -> None:
    # reference §4.5: bit 0 features, bit 1 PTP (row 16: 0x3)
    assert x0(fw(), call(0x8600_0000), ClockBoard()) == 0x3
    assert x0(fw(), call(0x8600_0000), Board()) == 0x1


def test_ptp() -> None:
    # reference §4.5: x0/x1 wall-clock hi/lo, x2/x3 counter hi/lo; bad x1 -> -1
    board = ClockBoard()
    virtual = fw().answer(call(0x8600_0001, 0), board).regs
    assert virtual == {0: board.wall_ns >> 32, 1: board.wall_ns & 0xFFFF_FFFF,
                       2: board.virtual >> 32, 3: board.virtual & 0xFFFF_FFFF}
    physical = fw().answer(call(0x8600_0001, 1), board).regs
    assert physical[2] << 32 | physical[3] == board.physical
    assert fw().answer(call(0x8600_0001, 2), board).regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0}
    assert x0(fw(), call(0x8600_0001, 0), Board()) == NOT_SUPPORTED


@pytest.mark.parametrize("profile", ["qemu", "tf-a"])
def test_vendor_hyp_is_kvm_only(profile) -> None:
    firmware = fw(profile=profile)
    for fid in (0x8600_FF01, 0x8600_0000, 0x8600_0001):
        assert x0(firmware, call(fid), ClockBoard()) == NOT_SUPPORTED


# --- PV time ------------------------------------------------------------------------------------

def test_pv_time_off() -> None:
    firmware = fw(pv_time=False)
    assert x0(firmware, call(PV_FEATURES, PV_FEATURES)) == NOT_SUPPORTED
    assert x0(firmware, call(PV_ST)) == NOT_SUPPORTED


def test_pv_time_on_without_a_record() -> None:
    # reference §4.5: ARCH_FEATURES(PV_TIME_FEATURES) is 0 iff PV time is enabled; KVM's
    # pvtime.c answers FEATURES/ST only once a stolen-time IPA exists. A fresh KVM VM has PV
    # time on (KVM_REG_ARM_STD_HYP_BMAP bit 0 set by default), so this is the default.
    firmware = fw()
    assert x0(firmware, call(ARCH_FEATURES, PV_FEATURES)) == 0
    assert x0(firmware, call(PV_FEATURES, PV_ST)) == NOT_SUPPORTED
    assert x0(firmware, call(PV_ST)) == NOT_SUPPORTED


def test_pv_time_on_with_records() -> None:
    firmware = fw(pv_time=True, pv_time_base=0x4800_0000)
    assert x0(firmware, call(PV_FEATURES, PV_FEATURES)) == 0
    assert x0(firmware, call(PV_FEATURES, PV_ST)) == 0
    assert x0(firmware, call(PV_FEATURES, 0x8400_0000)) == NOT_SUPPORTED
    assert x0(firmware, call(PV_ST, vcpu=2)) == 0x4800_0080


# --- registers per profile, deny -------------------------------------------------------------

def test_kvm_zeroes_x1_to_x3_qemu_and_tfa_leave_them() -> None:
    # reference §1.5 (KVM zeroes x1..x3), §5.2 and §6 row 13 (QEMU, TF-A write x0 only)
    the_call = call(0x8400_0000, 0x11, 0x22, 0x33)
    assert fw().answer(the_call, Board()).regs == {0: 0x10001, 1: 0, 2: 0, 3: 0}
    assert fw(profile="qemu").answer(the_call, Board()).regs == {0: 0x10001}
    assert fw(profile="tf-a").answer(the_call, Board()).regs == {0: 0x10001}


def test_deny_per_profile() -> None:
    # reference §1.5: KVM's deny is smccc_set_retval(v, -1, 0, 0, 0)
    assert fw().deny(call(0x8400_0000)).regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0}
    assert fw(profile="qemu").deny(call(0x8400_0000)).regs == {0: NOT_SUPPORTED}
    assert fw(profile="tf-a").deny(call(0x8400_0000)).regs == {0: NOT_SUPPORTED}


def test_every_answer_has_a_reason() -> None:
    firmware = fw(profile="kvm-6.13", psci_version=(1, 3), system_suspend=True, pv_time=True,
                  soc_id=(1, 2))
    for entry in TABLE:
        answer = firmware.answer(call(entry.fid), ClockBoard(), dry_run=True)
        assert answer.why, entry.name


# --- configuration and table --------------------------------------------------------------------

# kvm (Linux 5.18-6.12) offers no PSCI 1.2/1.3 (include/kvm/arm_psci.h has KVM_ARM_PSCI_1_1 as its
# latest); QEMU 7.2 psci.c always answers QEMU_PSCI_VERSION_1_1; TF-A's PSCI_MINOR_VER is 1.
@pytest.mark.parametrize("bad", [{"profile": "xen"}, {"psci_version": (1, 2)}, {"psci_version": (0, 3)},
                                 {"profile": "qemu", "psci_version": (1, 0)},
                                 {"profile": "tf-a", "psci_version": (1, 3)},
                                 {"smccc_version": (2, 0)}, {"conduit": "svc"}, {"workarounds": (1, 2, 1)},
                                 {"soc_id": (0x8000_0000, 0)}, {"pv_time_base": 0x4000_0010}])
def test_bad_configuration_is_a_usage_error(bad) -> None:
    with pytest.raises(UsageError):
        FirmwareConfig(**bad)


def test_table_has_one_row_per_function_id() -> None:
    fids = [entry.fid for entry in TABLE]
    assert len(fids) == len(set(fids))


def test_features_lists_what_the_profile_provides() -> None:
    names = {p.name for p in fw().features()}
    assert {"PSCI_VERSION", "TRNG_RND64", "VENDOR_HYP_CALL_UID", "SMCCC_VERSION"} <= names
    assert "PSCI_SYSTEM_SUSPEND" not in names and "PV_TIME_ST" in names
    assert "PV_TIME_ST" not in {p.name for p in fw(pv_time=False).features()}
    qemu = {p.name for p in fw(profile="qemu").features()}
    assert "PSCI_0_1_CPU_ON" in qemu and "TRNG_VERSION" not in qemu and "SMCCC_VERSION" not in qemu


def test_absent_functions_say_why() -> None:
    answer = fw(psci_version=(1, 0)).answer(call(0xC400_0012), Board())
    assert "PSCI 1.1" in answer.why
    assert "qemu" in fw(profile="qemu").answer(call(0x8400_0050), Board()).why


@pytest.mark.parametrize("profile", ["kvm", "qemu", "tf-a"])
def test_describe_profile(profile) -> None:
    lines = fw(profile=profile).describe_profile()
    assert lines[0].startswith(profile) and all(isinstance(line, str) and line for line in lines)
