"""PSCI handlers: every return-code path, PSCI_FEATURES per version, and how profiles differ.

Expected values come from the reference (§2, §4.5, §5.2, §7) or, where it is silent, from
the implementation source named next to the assertion.
"""
from __future__ import annotations

import pytest

from handlers_support import OFF, ON, PENDING, Board, call, u64
from hcdbg.handlers.base import (CpuOff, CpuOn, CpuSuspend, SystemOff, SystemReset, SystemSuspend,
                                 Undefined)
from hcdbg.handlers.registry import Firmware, FirmwareConfig

SUCCESS, NOT_SUPPORTED, INVALID_PARAMETERS, DENIED = 0, u64(-1), u64(-2), u64(-3)
ALREADY_ON, ON_PENDING, INTERNAL_FAILURE, INVALID_ADDRESS = u64(-4), u64(-5), u64(-6), u64(-9)
ENTRY, CTX = 0x4008_0100, 0xC0FFEE

CPU_ON, CPU_ON64 = 0x8400_0003, 0xC400_0003
AFFINITY64 = 0xC400_0004
SUSPEND64 = 0xC400_0001
FEATURES = 0x8400_000A


def fw(**config) -> Firmware:
    # PSCI 1.2 and 1.3 are Linux 6.13 KVM's (include/kvm/arm_psci.h KVM_ARM_PSCI_LATEST
    # KVM_ARM_PSCI_1_3; hypercalls.c kvm_arm_set_fw_reg accepts KVM_ARM_PSCI_1_2/1_3): the
    # kvm-6.13 profile, not the kvm one (5.18-6.12, KVM_ARM_PSCI_LATEST KVM_ARM_PSCI_1_1).
    if config.get("psci_version") in ((1, 2), (1, 3)) and "profile" not in config:
        config["profile"] = "kvm-6.13"
    return Firmware(FirmwareConfig(**config))


def x0(firmware: Firmware, the_call, board=None) -> int:
    return firmware.answer(the_call, board or Board()).regs[0]


# --- PSCI_VERSION and PSCI_FEATURES per version -------------------------------------------

@pytest.mark.parametrize(("version", "word"), [((0, 2), 0x2), ((1, 0), 0x10000), ((1, 1), 0x10001),
                                               ((1, 3), 0x10003)])
def test_psci_version(version, word) -> None:
    # reference §2.1 PSCI_VERSION encodings
    assert fw(psci_version=version).answer(call(0x8400_0000), Board()).regs == {0: word, 1: 0, 2: 0, 3: 0}


# reference §4.5: what KVM's PSCI_FEATURES answers 0 for (SMCCC_VERSION included)
KVM_BASE = {0x8400_0000, 0x8400_0001, 0xC400_0001, 0x8400_0002, 0x8400_0003, 0xC400_0003,
            0x8400_0004, 0xC400_0004, 0x8400_0006, 0x8400_0008, 0x8400_0009, 0x8400_000A,
            0x8000_0000}
RESET2 = {0x8400_0012, 0xC400_0012}
OFF2 = {0x8400_0015, 0xC400_0015}
EXPECTED_FEATURES = {
    (1, 0): {f: 0 for f in KVM_BASE},
    (1, 1): {f: 0 for f in KVM_BASE | RESET2},
    (1, 3): {**{f: 0 for f in KVM_BASE | RESET2}, **{f: 1 for f in OFF2}},  # §2.6: OFF2 -> bit 0
}
PSCI_RANGE = [base + fn for base in (0x8400_0000, 0xC400_0000) for fn in range(0x20)]


@pytest.mark.parametrize("version", [(1, 0), (1, 1), (1, 3)])
def test_psci_features_per_version(version) -> None:
    firmware = fw(psci_version=version)
    expected = EXPECTED_FEATURES[version]
    for queried in PSCI_RANGE + [0x8000_0000, 0x8000_0001, 0x8400_0050]:
        want = expected.get(queried)
        got = x0(firmware, call(FEATURES, queried))
        assert got == (NOT_SUPPORTED if want is None else want), hex(queried)


def test_psci_0_2_has_no_psci_features() -> None:
    # PSCI_FEATURES arrived in 1.0 (reference §2.1)
    answer = fw(psci_version=(0, 2)).answer(call(FEATURES, 0x8400_0000), Board())
    assert answer.regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0}


def _answered(firmware: Firmware) -> set[int]:
    """The PSCI-range IDs a call with plausible arguments gets something other than -1 for."""
    out = set()
    for fid in PSCI_RANGE:
        x1 = 0x8400_0000 if fid == FEATURES else 0  # PSCI_FEATURES(PSCI_VERSION)
        if firmware.answer(call(fid, x1), Board()).regs.get(0) != NOT_SUPPORTED:
            out.add(fid)
    return out


@pytest.mark.parametrize("version", [(1, 0), (1, 1), (1, 3)])
def test_features_agree_with_calls(version) -> None:
    """A PSCI function is advertised iff calling it gets something other than -1."""
    firmware = fw(psci_version=version)
    advertised = {fid for fid in PSCI_RANGE if x0(firmware, call(FEATURES, fid)) != NOT_SUPPORTED}
    assert advertised == _answered(firmware)


def test_psci_0_2_answers_the_0_2_functions_only() -> None:
    # reference §2.1 "Since 0.2" rows, minus MIGRATE / MIGRATE_INFO_UP_CPU (KVM: -1, §4.5)
    assert _answered(fw(psci_version=(0, 2))) == KVM_BASE - {0x8400_000A, 0x8000_0000}


@pytest.mark.parametrize(("version", "fid"), [((1, 0), 0xC400_0012), ((0, 2), 0x8400_0012),
                                              ((1, 1), 0x8400_0015), ((1, 1), 0xC400_0015),
                                              ((0, 2), 0x8400_000A)])
def test_functions_absent_in_the_selected_version_are_not_supported(version, fid) -> None:
    answer = fw(psci_version=version).answer(call(fid), Board())
    assert answer.regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0} and answer.effect is None


@pytest.mark.parametrize("fid", [0x8400_0005, 0xC400_0005, 0x8400_0007, 0xC400_0007, 0x8400_000B,
                                 0x8400_000F, 0x8400_0013, 0xC400_0016])
def test_kvm_unimplemented_psci_functions(fid) -> None:
    # reference §4.5: MIGRATE, MIGRATE_INFO_UP_CPU, CPU_FREEZE, SET_SUSPEND_MODE, MEM_PROTECT ... -> -1
    assert fw(psci_version=(1, 3)).answer(call(fid), Board()).regs == {0: NOT_SUPPORTED, 1: 0, 2: 0, 3: 0}


# --- CPU_ON ---------------------------------------------------------------------------------

def test_cpu_on_success_starts_the_target() -> None:
    answer = fw().answer(call(CPU_ON64, 0x2, ENTRY, CTX), Board())
    assert answer.regs == {0: SUCCESS, 1: 0, 2: 0, 3: 0}
    assert answer.effect == CpuOn(2, ENTRY, CTX)


def test_cpu_on_32bit_id_reads_w1_to_w3() -> None:
    # reference §1.3: KVM narrows x1..x3 to 32 bits for the SMC32 CPU_ON
    answer = fw().answer(call(CPU_ON, 0xFFFF_FFFF_0000_0002, 0xABCD_0000_4008_0100, 0x1_0000_0007), Board())
    assert answer.effect == CpuOn(2, 0x4008_0100, 7)


@pytest.mark.parametrize("target", [0x1_0000_0000_0000, 0x8000_0000, 0xFF_0000_0000_0000])
def test_cpu_on_target_bits_outside_affinity_fields(target) -> None:
    # reference §2.3: KVM rejects target & ~0xFF00FFFFFF (row 8)
    assert x0(fw(), call(CPU_ON64, target, ENTRY)) == INVALID_PARAMETERS


def test_cpu_on_unknown_mpidr() -> None:
    assert x0(fw(), call(CPU_ON64, 0x4, ENTRY)) == INVALID_PARAMETERS
    assert x0(fw(), call(CPU_ON64, 0x1_0000_0000, ENTRY)) == INVALID_PARAMETERS  # Aff3 = 1: no such vCPU


def test_cpu_on_aff3_target() -> None:
    board = Board(mpidr=(0x0, 0x1_0000_0000))
    assert fw().answer(call(CPU_ON64, 0x1_0000_0000, ENTRY), board).effect == CpuOn(1, ENTRY, 0)


def test_cpu_on_already_on() -> None:
    board = Board(states=[ON, ON, OFF, OFF])
    assert x0(fw(), call(CPU_ON64, 0x1, ENTRY), board) == ALREADY_ON


def test_kvm_never_answers_on_pending() -> None:
    # reference §2.3: KVM brings vCPUs up synchronously; a not-stopped vCPU is ALREADY_ON
    board = Board(states=[ON, PENDING, OFF, OFF])
    assert x0(fw(), call(CPU_ON64, 0x1, ENTRY), board) == ALREADY_ON


@pytest.mark.parametrize(("profile", "expected"), [("qemu", ALREADY_ON), ("tf-a", ON_PENDING)])
def test_cpu_on_pending_elsewhere(profile, expected) -> None:
    # TF-A lib/psci/psci_on.c: a target in ON_PENDING -> PSCI_E_ON_PENDING. QEMU 7.2
    # target/arm/arm-powerctl.c arm_set_cpu_on never sets power_state = PSCI_ON_PENDING (its
    # async work goes OFF -> PSCI_ON), so a CPU being started reads ON: ALREADY_ON, never -5.
    board = Board(states=[ON, PENDING, OFF, OFF])
    firmware = fw(profile=profile, conduit="hvc")
    assert x0(firmware, call(CPU_ON64, 0x1, ENTRY), board) == expected


@pytest.mark.parametrize("entry", [0x4008_0101, 0x4008_0102, 0x4008_0103])
def test_cpu_on_unaligned_entry_is_invalid_address(entry) -> None:
    answer = fw().answer(call(CPU_ON64, 0x2, entry), Board())
    assert answer.regs[0] == INVALID_ADDRESS and answer.effect is None
    tfa = fw(profile="tf-a")  # reference §2.3: TF-A refuses an odd entry point
    assert x0(tfa, call(CPU_ON64, 0x2, entry)) == INVALID_ADDRESS


def test_kvm_without_the_entry_check_starts_anyway() -> None:
    # reference §4.5: KVM's CPU_ON answers only 0 / -2 / -4
    answer = fw(check_entry=False).answer(call(CPU_ON64, 0x2, 0x4008_0102), Board())
    assert answer.regs[0] == SUCCESS and answer.effect == CpuOn(2, 0x4008_0102, 0)


def test_qemu_cpu_on_unaligned_entry_is_invalid_parameters_first() -> None:
    # QEMU target/arm/arm-powerctl.c arm_set_cpu_on: `entry & 3` -> INVALID_PARAM before the lookup
    qemu = fw(profile="qemu")
    assert x0(qemu, call(CPU_ON64, 0x1, 0x4008_0102), Board(states=[ON, ON, OFF, OFF])) == INVALID_PARAMETERS


def test_tfa_checks_the_entry_point_before_the_target_state() -> None:
    board = Board(states=[ON, ON, OFF, OFF])
    assert x0(fw(profile="tf-a"), call(CPU_ON64, 0x1, 0x4008_0102), board) == INVALID_ADDRESS
    assert x0(fw(), call(CPU_ON64, 0x1, 0x4008_0102), board) == ALREADY_ON  # KVM: state first


# --- AFFINITY_INFO ----------------------------------------------------------------------------

CLUSTERS = (0x000, 0x001, 0x100, 0x101)  # two clusters of two


@pytest.mark.parametrize(("target", "level", "want"), [
    (0x100, 0, 1),  # vCPU 2 off
    (0x001, 0, 1),
    (0x000, 0, 0),
    (0x101, 1, 1),  # cluster 1: all off
    (0x001, 1, 0),  # cluster 0: vCPU 0 on
    (0x1FF, 1, 1),  # level 1 ignores Aff0
    (0x100, 2, 0),  # everything under Aff2 0: vCPU 0 on
    (0x200, 1, INVALID_PARAMETERS),  # no vCPU in cluster 2
    (0x000, 4, INVALID_PARAMETERS),  # level > 3
    (0x1_0000_0000_0000, 0, INVALID_PARAMETERS),  # outside the affinity fields
])
def test_kvm_affinity_info_levels(target, level, want) -> None:
    # reference §2.4: KVM masks by level 0..3; ON if any matching vCPU is on; no match -> -2
    answer = fw().answer(call(AFFINITY64, target, level), Board(mpidr=CLUSTERS))
    assert answer.regs == {0: want, 1: 0, 2: 0, 3: 0}


def test_kvm_affinity_info_counts_pending_as_on() -> None:
    board = Board(states=[ON, PENDING, OFF, OFF])
    assert x0(fw(), call(AFFINITY64, 0x1, 0), board) == 0


def test_qemu_affinity_info() -> None:
    # reference §2.4, §5.2, §7 item 7
    qemu = fw(profile="qemu")
    board = Board(states=[ON, PENDING, OFF, OFF])
    assert qemu.answer(call(AFFINITY64, 0x7, 1), board).regs == {0: 0}  # level >= 1: ON, unchecked
    assert qemu.answer(call(AFFINITY64, 0x7, 0), board).regs == {0: INVALID_PARAMETERS}
    # QEMU 7.2 psci.c answers target_cpu->power_state, never PSCI_ON_PENDING (arm-powerctl.c
    # never sets it): a vCPU hcdbg is starting reads ON, never 2.
    assert qemu.answer(call(AFFINITY64, 0x1, 0), board).regs == {0: 0}
    assert qemu.answer(call(AFFINITY64, 0x2, 0), board).regs == {0: 1}


def test_tfa_affinity_info_rejects_levels_above_zero() -> None:
    # reference §2.4, §7 item 7
    tfa = fw(profile="tf-a")
    assert tfa.answer(call(AFFINITY64, 0x0, 1), Board()).regs == {0: INVALID_PARAMETERS}
    assert tfa.answer(call(AFFINITY64, 0x2, 0), Board()).regs == {0: 1}


# --- CPU_SUSPEND, CPU_OFF, MIGRATE* ----------------------------------------------------------

@pytest.mark.parametrize("power_state", [0x0, 0x1_0000, 0x100_0000, 0xFFFF_FFFF])
def test_kvm_cpu_suspend_is_always_a_wfi(power_state) -> None:
    # reference §2.7, §4.5: every suspend is WFI and returns 0
    answer = fw().answer(call(SUSPEND64, power_state, ENTRY, CTX), Board())
    assert answer.regs == {0: 0, 1: 0, 2: 0, 3: 0} and answer.effect == CpuSuspend(None)


def test_qemu_cpu_suspend() -> None:
    # reference §2.7, §5.2: power_state & 0xFFFE0000 -> -2, else WFI and x0 = 0
    qemu = fw(profile="qemu")
    assert qemu.answer(call(SUSPEND64, 0x100_0000, ENTRY), Board()).regs == {0: INVALID_PARAMETERS}
    answer = qemu.answer(call(SUSPEND64, 0x1_0000, ENTRY), Board())
    assert answer.regs == {0: 0} and answer.effect == CpuSuspend(None)


def test_tfa_cpu_suspend() -> None:
    # reference §2.7: standby returns SUCCESS, power-down resumes at entry_point with x0 = context_id
    tfa = fw(profile="tf-a")
    standby = tfa.answer(call(SUSPEND64, 0x0, ENTRY, CTX), Board())
    assert standby.regs == {0: 0} and standby.effect == CpuSuspend(None)
    down = tfa.answer(call(SUSPEND64, 0x1_0000, ENTRY, CTX), Board())
    assert down.regs == {} and down.effect == CpuSuspend(ENTRY, CTX)
    assert tfa.answer(call(SUSPEND64, 0x1_0000, ENTRY + 2), Board()).regs == {0: INVALID_ADDRESS}
    assert tfa.answer(call(SUSPEND64, 0x8000_0000), Board()).regs == {0: INVALID_PARAMETERS}  # MBZ


def test_cpu_off() -> None:
    answer = fw().answer(call(0x8400_0002), Board())
    assert answer.effect == CpuOff() and answer.regs == {0: 0, 1: 0, 2: 0, 3: 0}
    assert fw(profile="qemu").answer(call(0x8400_0002), Board()).regs == {}


def test_migrate_calls() -> None:
    # reference §2.5, §4.5
    for fid, want in [(0x8400_0006, 2), (0x8400_0005, NOT_SUPPORTED), (0x8400_0007, NOT_SUPPORTED)]:
        assert x0(fw(), call(fid)) == want


# --- system calls ---------------------------------------------------------------------------

@pytest.mark.parametrize(("fid", "effect"), [(0x8400_0008, SystemOff()), (0x8400_0009, SystemReset())])
def test_kvm_system_off_and_reset_preload_internal_failure(fid, effect) -> None:
    # reference §2.8: x0 pre-loaded with -6 in case userspace resumes
    answer = fw().answer(call(fid), Board())
    assert answer.regs == {0: INTERNAL_FAILURE, 1: 0, 2: 0, 3: 0} and answer.effect == effect


def test_qemu_system_off_writes_nothing() -> None:
    answer = fw(profile="qemu").answer(call(0x8400_0008), Board())
    assert answer.regs == {} and answer.effect == SystemOff()


@pytest.mark.parametrize("reset_type", [0, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFF])
def test_system_reset2_warm_or_vendor(reset_type) -> None:
    # reference §2.8: KVM leaves x1/x2 intact for userspace, only x0 := -6
    answer = fw().answer(call(0xC400_0012, reset_type, 0x55), Board())
    assert answer.regs == {0: INTERNAL_FAILURE} and answer.effect == SystemReset("PSCI_SYSTEM_RESET2")


@pytest.mark.parametrize("reset_type", [1, 2, 0x7FFF_FFFF])
def test_system_reset2_reserved_architectural_type(reset_type) -> None:
    answer = fw().answer(call(0xC400_0012, reset_type), Board())
    assert answer.regs == {0: INVALID_PARAMETERS, 1: 0, 2: 0, 3: 0} and answer.effect is None


def test_system_reset2_32bit_narrows_the_type() -> None:
    answer = fw().answer(call(0x8400_0012, 0xFFFF_FFFF_0000_0000, 0x1_0000_0002), Board())
    assert answer.effect == SystemReset("PSCI_SYSTEM_RESET2")
    assert answer.regs == {0: INTERNAL_FAILURE, 1: 0, 2: 2, 3: 0}


def test_qemu_has_no_system_reset2() -> None:
    assert fw(profile="qemu").answer(call(0xC400_0012), Board()).regs == {0: NOT_SUPPORTED}


@pytest.mark.parametrize(("off_type", "cookie", "ok"), [(0, 0, True), (1, 0, True), (1, 1, False),
                                                        (2, 0, False), (0x8000_0000, 0, False)])
def test_system_off2(off_type, cookie, ok) -> None:
    # reference §2.1/§2.8 (type HIBERNATE_OFF, cookie 0); Linux psci.h HIBERNATE_OFF = BIT(0) and
    # DEN0022F.b lets 0 stand for it; the KVM selftest expects cookie 1 -> INVALID_PARAMS
    answer = fw(psci_version=(1, 3)).answer(call(0xC400_0015, off_type, cookie, 0x77), Board())
    if ok:
        # Linux 6.13 arch/arm64/kvm/psci.c: SYSTEM_OFF2 sets val = PSCI_RET_INTERNAL_FAILURE and
        # breaks out to smccc_set_retval(vcpu, val, 0, 0, 0): x1..x3 = 0 (SYSTEM_RESET2, which
        # returns after vcpu_set_reg(vcpu, 0, ...), keeps them).
        assert answer.effect == SystemOff("PSCI_SYSTEM_OFF2")
        assert answer.regs == {0: INTERNAL_FAILURE, 1: 0, 2: 0, 3: 0}
    else:
        assert answer.effect is None and answer.regs[0] == INVALID_PARAMETERS


def test_system_suspend_needs_the_capability() -> None:
    # reference §2.8, §4.5: KVM only answers SYSTEM_SUSPEND when its cap is enabled
    assert x0(fw(), call(0xC400_000E, ENTRY, CTX)) == NOT_SUPPORTED
    assert x0(fw(), call(FEATURES, 0xC400_000E)) == NOT_SUPPORTED
    assert x0(fw(system_suspend=True), call(FEATURES, 0xC400_000E)) == 0


def test_system_suspend_denied_while_another_vcpu_is_on() -> None:
    # reference §2.8: DENIED if other cores are on
    board = Board(states=[ON, OFF, ON, OFF])
    answer = fw(system_suspend=True).answer(call(0xC400_000E, ENTRY, CTX), board)
    assert answer.regs[0] == DENIED and answer.effect is None


def test_system_suspend_last_vcpu_on() -> None:
    # reference §2.8: KVM exits with the registers untouched
    answer = fw(system_suspend=True).answer(call(0xC400_000E, ENTRY, CTX), Board())
    assert answer.regs == {} and answer.effect == SystemSuspend(ENTRY, CTX)
    bad = fw(system_suspend=True).answer(call(0xC400_000E, ENTRY + 1, CTX), Board())
    assert bad.regs[0] == INVALID_ADDRESS


def test_system_suspend_in_psci_0_2_is_absent() -> None:
    assert x0(fw(system_suspend=True, psci_version=(0, 2)), call(0xC400_000E, ENTRY)) == NOT_SUPPORTED


# --- QEMU profile differences (§5.1, §5.2, §7 items 6-7) -------------------------------------------

QEMU_FEATURES_ZERO = {0x8400_0000, 0x8400_0006, 0x8400_0004, 0xC400_0004, 0x8400_0009, 0x8400_0008,
                      0x95C1_BA60, 0x8400_0003, 0xC400_0003, 0x95C1_BA5F, 0x8400_0002, 0x95C1_BA5E,
                      0x8400_0001, 0xC400_0001, 0x8400_000A}


def test_qemu_psci_features_set() -> None:
    qemu = fw(profile="qemu")
    for queried in PSCI_RANGE + [0x95C1_BA5E, 0x95C1_BA5F, 0x95C1_BA60, 0x95C1_BA61, 0x8000_0000]:
        want = 0 if queried in QEMU_FEATURES_ZERO else NOT_SUPPORTED
        assert qemu.answer(call(FEATURES, queried), Board()).regs == {0: want}, hex(queried)


def test_qemu_answers_psci_0_1_ids() -> None:
    qemu = fw(profile="qemu")
    answer = qemu.answer(call(0x95C1_BA60, 0x2, ENTRY, CTX), Board())
    assert answer.regs == {0: 0} and answer.effect == CpuOn(2, ENTRY, CTX)
    assert qemu.answer(call(0x95C1_BA61), Board()).regs == {0: NOT_SUPPORTED}
    assert x0(fw(), call(0x95C1_BA60, 0x2, ENTRY)) == NOT_SUPPORTED  # KVM with PSCI >= 0.2


@pytest.mark.parametrize("fid", [0x8000_0000, 0x8000_0001, 0x8400_0050, 0xC400_0053, 0x8600_FF01,
                                 0xC500_0020, 0x8200_0000, 0x8400_0012])
def test_qemu_answers_minus_one_in_x0_only(fid) -> None:
    # reference §5.2, §7 item 6: -1, and x1..x3 left as the caller set them
    assert fw(profile="qemu").answer(call(fid, 5, 6, 7), Board()).regs == {0: NOT_SUPPORTED}


def test_qemu_compares_the_whole_of_x0() -> None:
    # QEMU target/arm/tcg/psci.c: `switch (param[0])` on the 64-bit x0
    answer = fw(profile="qemu").answer(call(0x8400_0000, x0=0x1_8400_0000), Board())
    assert answer.regs == {0: NOT_SUPPORTED}
    assert x0(fw(), call(0x8400_0000, x0=0x1_8400_0000)) == 0x10001  # KVM: only W0 counts


@pytest.mark.parametrize(("profile", "conduit", "other"), [("qemu", "hvc", "smc"), ("qemu", "smc", "hvc"),
                                                           ("tf-a", "smc", "hvc")])
def test_the_other_conduit_is_undefined(profile, conduit, other) -> None:
    # reference §5.1: only the configured conduit is a PSCI call; the other takes the
    # architectural path (UNDEFINED without EL2/EL3)
    firmware = fw(profile=profile, conduit=conduit)
    answer = firmware.answer(call(0x8400_0000, conduit=other), Board())
    assert answer.regs == {} and answer.effect == Undefined()
    assert firmware.answer(call(0x8400_0000, conduit=conduit), Board()).regs == {0: 0x10001}


def test_kvm_answers_both_conduits() -> None:
    firmware = fw(conduit="hvc")
    assert x0(firmware, call(0x8400_0000, conduit="smc")) == 0x10001
