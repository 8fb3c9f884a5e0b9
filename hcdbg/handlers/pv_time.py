"""Paravirtualised time (Arm DEN0057; standard hypervisor service, OEN 5): stolen time.

kvm profile with config.pv_time only. KVM answers both calls from whether userspace gave the
vCPU a stolen-time IPA (arch/arm64/kvm/pvtime.c); hcdbg's is config.pv_time_base + 64 * vCPU.
The machine must keep that memory zero: revision 0, attributes 0, stolen time 0 ns, which is
the truth for an emulator that never steals time.
"""
from __future__ import annotations

from hcdbg.handlers.base import Answer, Call, Platform
from hcdbg.handlers.env import Env
from hcdbg.smccc.ids import PV_TIME_FEATURES, PV_TIME_ST, SmcccRet

#: Size of one vCPU's stolen-time record (DEN0057: 64 bytes, 64-byte aligned).
RECORD_SIZE = 64


def features(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """PV_TIME_FEATURES (DEN0057): w1 = PV_TIME_FEATURES or PV_TIME_ST -> 0 when a stolen-time
    record exists (config.pv_time_base), else -1; any other w1 -> -1.

    SMCCC_ARCH_FEATURES(PV_TIME_FEATURES) is 0 whenever pv_time is on, as in KVM, which only
    looks at its bitmap there."""
    if call.arg32(1) in (PV_TIME_FEATURES, PV_TIME_ST) and env.config.pv_time_base is not None:
        return env.result(SmcccRet.SUCCESS, "PV_TIME_FEATURES: stolen time is available")
    return env.result(SmcccRet.NOT_SUPPORTED, "PV_TIME_FEATURES: not available (no stolen-time record)")


def stolen_time(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """PV_TIME_ST (DEN0057): the IPA of the caller's stolen-time record, or -1 without one."""
    base = env.config.pv_time_base
    if base is None:
        return env.result(SmcccRet.NOT_SUPPORTED, "PV_TIME_ST: no stolen-time record configured")
    return env.result(base + RECORD_SIZE * call.vcpu, "PV_TIME_ST: IPA of this vCPU's stolen-time record")
