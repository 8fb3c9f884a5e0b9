"""Arm architecture calls (OEN 0, DEN0028 §7): SMCCC_VERSION, ARCH_FEATURES, SOC_ID, workarounds.

Present only when the firmware implements SMCCC 1.1 or later (kvm 1.1 and tf-a 1.5 by
default; QEMU TCG answers -1 to all of them, QEMU 7.2 target/arm/psci.c).
"""
from __future__ import annotations

from hcdbg.handlers.base import Answer, Call, Platform
from hcdbg.handlers.config import KVM, TFA, FirmwareConfig
from hcdbg.handlers.env import Env
from hcdbg.smccc.ids import (PV_TIME_FEATURES, SMCCC_ARCH_FEATURES, SMCCC_ARCH_SOC_ID,
                             SMCCC_ARCH_WORKAROUND_1, SMCCC_ARCH_WORKAROUND_2,
                             SMCCC_ARCH_WORKAROUND_3, SMCCC_VERSION, SMC, SmcccRet)

WORKAROUNDS = (SMCCC_ARCH_WORKAROUND_1, SMCCC_ARCH_WORKAROUND_2, SMCCC_ARCH_WORKAROUND_3)


def feature_table(config: FirmwareConfig) -> dict[int, int]:
    """SMCCC_ARCH_FEATURES answers other than -1 (DEN0028 §7; kvm/hypercalls.c, TF-A
    arm_arch_svc_setup.c).

    Workarounds: config.workarounds, -1 meaning "not implemented" (KVM's defaults for an
    unaffected host are WA1 +1, WA2 -2, WA3 +1). PV_TIME_FEATURES: 0 iff
    pv_time (kvm). SOC_ID: 0 iff soc_id is configured (KVM never implements it; Linux only
    asks at SMCCC >= 1.2). tf-a also answers 0 for SMCCC_VERSION and ARCH_FEATURES
    themselves; KVM answers -1 for them."""
    if config.smccc is None:
        return {}
    table = {fid: value for fid, value in zip(WORKAROUNDS, config.workarounds, strict=True) if value != -1}
    if config.soc_id is not None:
        table[SMCCC_ARCH_SOC_ID] = 0
    if config.pv_time and config.family == KVM:
        table[PV_TIME_FEATURES] = 0
    if config.profile == TFA:
        table[SMCCC_VERSION] = table[SMCCC_ARCH_FEATURES] = 0
    return table


def _arg1(env: Env, call: Call) -> int:
    """x1 as the profile compares it: TF-A all 64 bits, the others w1."""
    return call.regs[1] if env.profile == TFA else call.arg32(1)


def smccc_version(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SMCCC_VERSION (DEN0028 §7): kvm 0x10001 (1.1, though it follows 1.2 register use,
    Linux kvm/hypercalls.c), tf-a 0x10005, or config.smccc_version."""
    word = env.smccc_word if env.smccc_word is not None else SmcccRet.NOT_SUPPORTED
    return env.result(word, "SMCCC_VERSION: the SMC Calling Convention version implemented")


def arch_features(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SMCCC_ARCH_FEATURES (DEN0028 §7): x1 = a function ID; -1 unless implemented. KVM reads
    w1 (u32 feature); TF-A compares all of x1 (smccc_arch_features(u_register_t arg1)). See
    `feature_table` for what each profile answers."""
    value = env.arch_features.get(_arg1(env, call))
    if value is None:
        return env.result(SmcccRet.NOT_SUPPORTED, "SMCCC_ARCH_FEATURES: the queried function is not implemented")
    return env.result(value, "SMCCC_ARCH_FEATURES: implemented; for a workaround 0 = call it, "
                      "1 = not needed on this PE, -2 = not required anywhere")


def soc_id(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SMCCC_ARCH_SOC_ID (DEN0028 §7, SMCCC 1.2+; only with config.soc_id): w1 = 0 -> SoC
    version (JEP-106 bank/id, implementation bits), 1 -> SoC revision, anything else ->
    INVALID_PARAMETER (-3). The SMC64 "SoC name" variant is not implemented. tf-a compares all
    of x1 (smccc_arch_id(u_register_t arg1, ...))."""
    assert env.config.soc_id is not None  # registered only when configured
    selector = _arg1(env, call)
    if selector == 0:
        return env.result(env.config.soc_id[0], "SMCCC_ARCH_SOC_ID: SoC version")
    if selector == 1:
        return env.result(env.config.soc_id[1], "SMCCC_ARCH_SOC_ID: SoC revision")
    return env.result(SmcccRet.INVALID_PARAMETER, "SMCCC_ARCH_SOC_ID: w1 is neither 0 (version) nor 1 (revision)")


def _workaround(env: Env, call: Call, index: int) -> Answer:
    """SMCCC_ARCH_WORKAROUND_1/2/3 (DEN0028 §7): no result is defined.

    kvm, HVC: the hyp vectors' fast path (hyp-entry.S el1_hvc_guest) answers before any
    filter: x0 = 0 and x1 = 0 (its scratch register, zero after the ID compare), x2/x3
    untouched, whatever the mitigation state. kvm, SMC: no fast path; the ID is neither
    default-allowed nor in a bitmap, so KVM denies it (-1, x1..x3 = 0). tf-a: SMC_RET0,
    nothing written, if the workaround is built in (config value != -1), else -1."""
    if env.profile == KVM:
        if call.conduit == SMC:
            return env.result(SmcccRet.NOT_SUPPORTED,
                              "workaround over SMC: KVM has no fast path for it and denies it")
        return Answer({0: 0, 1: 0}, None, "workaround: KVM's fast path returns x0 = 0 (x1 is its scratch)")
    if env.config.workarounds[index] == -1:
        return env.result(SmcccRet.NOT_SUPPORTED, "workaround: not implemented by this firmware")
    return Answer({}, None, "workaround: applied; no result, no register written")


def workaround_1(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SMCCC_ARCH_WORKAROUND_1 (Spectre v2, CVE-2017-5715); see `_workaround`."""
    return _workaround(env, call, 0)


def workaround_2(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SMCCC_ARCH_WORKAROUND_2 (SSBD, CVE-2018-3639; w1 enable/disable); see `_workaround`."""
    return _workaround(env, call, 1)


def workaround_3(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SMCCC_ARCH_WORKAROUND_3 (Spectre-BHB, covers WA1 too); see `_workaround`."""
    return _workaround(env, call, 2)
