"""KVM's vendor-specific hypervisor service (OEN 6): call UID, KVM_FEATURES and PTP.

kvm profile only (reference §4.5); QEMU TCG and TF-A answer -1.
"""
from __future__ import annotations

from hcdbg.handlers.base import Answer, Call, Platform
from hcdbg.handlers.env import Env
from hcdbg.handlers.trng import uuid_words
from hcdbg.smccc.ids import MASK32, SmcccRet

#: KVM's UID 28b46fb6-2ec5-11e9-a9ca-4b564d003a74 (ARM_SMCCC_VENDOR_HYP_UID_KVM_REG_0..3;
#: reference §4.5, §6 row 15).
KVM_UID = uuid_words("28b46fb6-2ec5-11e9-a9ca-4b564d003a74")
#: KVM_FEATURES bitmap bits (KVM_REG_ARM_VENDOR_HYP_BMAP, reference §4.5).
FEATURE_FUNC_FEAT = 1 << 0  # CALL_UID and KVM_FEATURES themselves
FEATURE_PTP = 1 << 1
#: PTP's x1: which counter the guest wants (KVM_PTP_VIRT_COUNTER / KVM_PTP_PHYS_COUNTER).
PTP_VIRTUAL, PTP_PHYSICAL = 0, 1


def has_clock(platform: Platform) -> bool:
    """Whether the platform can give PTP's clock snapshot (base.ClockPlatform)."""
    return getattr(platform, "clock_snapshot", None) is not None


def call_uid(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """VENDOR_HYP_CALL_UID (DEN0028 §6 general service queries): KVM's UID in w0..w3."""
    w0, w1, w2, w3 = KVM_UID
    return env.results(w0, w1, w2, w3, "VENDOR_HYP_CALL_UID: this is KVM")


def kvm_features(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """KVM_FEATURES: the vendor-hyp bitmap. KVM's default is 0b11 (features + PTP); here
    bit 1 is set only when PTP can really be answered, i.e. the platform has a clock."""
    bitmap = FEATURE_FUNC_FEAT | (FEATURE_PTP if has_clock(platform) else 0)
    return env.result(bitmap, "KVM_FEATURES: bit 0 UID/features, bit 1 PTP")


def ptp(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """KVM_PTP (Linux hypercalls.c kvm_ptp_get_time): w1 = 0 virtual / 1 physical counter;
    x0/x1 = wall-clock ns high/low 32 bits, x2/x3 = counter high/low, read together.

    -1 (x1..x3 = 0) for another w1, or when the platform has no clock (KVM does the same when
    the host clocksource is not the architected counter)."""
    snapshot = getattr(platform, "clock_snapshot", None)
    selector = call.arg32(1)
    if snapshot is None or selector not in (PTP_VIRTUAL, PTP_PHYSICAL):
        return env.result(SmcccRet.NOT_SUPPORTED, "KVM_PTP: no platform clock, or w1 is not 0 or 1")
    wall_ns, counter = snapshot(call.vcpu, selector == PTP_PHYSICAL)
    return env.results(wall_ns >> 32, wall_ns & MASK32, counter >> 32, counter & MASK32,
                       "KVM_PTP: wall-clock ns in x0:x1, counter in x2:x3")
