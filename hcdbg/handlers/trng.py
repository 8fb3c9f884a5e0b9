"""TRNG firmware interface 1.0 (Arm DEN0098): version, features, back-end UUID, entropy.

kvm and tf-a only: QEMU TCG has no TRNG service and answers -1 (QEMU 7.2 target/arm/psci.c).
DEN0098 section numbers were not re-checked against the PDF.
"""
from __future__ import annotations

import struct
import uuid

from hcdbg.handlers.base import Answer, Call, Platform
from hcdbg.handlers.config import KVM
from hcdbg.handlers.env import Env
from hcdbg.smccc.ids import (MASK32, MASK64, TRNG_FEATURES, TRNG_GET_UUID, TRNG_RND32,
                             TRNG_RND64, TRNG_VERSION, TrngRet)

TRNG_IDS = frozenset({TRNG_VERSION, TRNG_FEATURES, TRNG_GET_UUID, TRNG_RND32, TRNG_RND64})
VERSION_1_0 = 0x1_0000
RND32_MAX_BITS = 96  # w1..w3
RND64_MAX_BITS = 192  # x1..x3


def uuid_words(text: str) -> tuple[int, int, int, int]:
    """A UUID as SMCCC returns it: the RFC 4122 bytes read as four little-endian words
    (Linux kvm/trng.c, TF-A include/lib/smccc.h SMC_UUID_RET)."""
    w0, w1, w2, w3 = struct.unpack("<4I", uuid.UUID(text).bytes)
    return w0, w1, w2, w3


#: KVM's back end (arch/arm64/kvm/trng.c arm_smc_trng_uuid).
KVM_UUID = uuid_words("0d21e000-4384-11eb-8070-5244554e5a4c")
#: TF-A's qemu platform has no TRNG (its TRNG calls would be -1, or -4 without a UUID), so the
#: tf-a profile answers as a TF-A platform that has one: Arm's Juno and TC boards
#: (plat/arm/board/juno/juno_trng.c and tc/tc_trng.c, _plat_trng_uuid).
TFA_JUNO_UUID = uuid_words("23523c58-7448-4083-9d16-e3fab9f173bc")


def version(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """TRNG_VERSION (DEN0098 §2.2): 0x10000, version 1.0."""
    return env.result(VERSION_1_0, "TRNG_VERSION: TRNG interface 1.0")


def features(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """TRNG_FEATURES (DEN0098 §2.3): 0 for the five TRNG function IDs, else -1. KVM compares
    all of x1 (kvm/trng.c switch (smccc_get_arg1(vcpu))); TF-A w1 (is_trng_fid((uint32_t)x1))."""
    queried = call.regs[1] if env.profile == KVM else call.arg32(1)
    if queried in env.trng_ids:
        return env.result(TrngRet.SUCCESS, "TRNG_FEATURES: the queried TRNG function is implemented")
    return env.result(TrngRet.NOT_SUPPORTED, "TRNG_FEATURES: not a TRNG function")


def get_uuid(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """TRNG_GET_UUID (DEN0098 §2.4): the entropy back end's UUID in w0..w3.

    kvm: 0d21e000-4384-11eb-8070-5244554e5a4c; tf-a: TF-A's Juno/TC platform UUID."""
    w0, w1, w2, w3 = KVM_UUID if env.profile == KVM else TFA_JUNO_UUID
    return env.results(w0, w1, w2, w3, "TRNG_GET_UUID: the entropy back end's UUID")


def _invalid(env: Env, why: str) -> Answer:
    # KVM zeroes x1..x3 with the error; TF-A's SMC_RET1 writes x0 only.
    return env.result(TrngRet.INVALID_PARAMETERS, why)


def rnd32(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """TRNG_RND32 (DEN0098 §2.5): N = w1 bits, right-aligned in w3 (31:0), w2 (63:32),
    w1 (95:64), unused high bits zero, x0 = 0.

    N > 96 -> INVALID_PARAMETERS. N = 0: kvm succeeds with no bits (it only checks the upper
    bound); tf-a -> INVALID_PARAMETERS (trng_main.c trng_rnd32). A dry run peeks at the
    entropy stream, so the real call gets the same bits."""
    count = call.arg32(1)
    if count > RND32_MAX_BITS or (count == 0 and env.profile != KVM):
        return _invalid(env, "TRNG_RND32: N above 96 (or 0, which TF-A refuses) -> INVALID_PARAMETERS")
    value = env.entropy.bits(count, consume=not dry_run)
    return env.results(TrngRet.SUCCESS, value >> 64, (value >> 32) & MASK32, value & MASK32,
                       "TRNG_RND32: N random bits right-aligned in w3, w2, w1")


def rnd64(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """TRNG_RND64 (DEN0098 §2.5): N bits right-aligned in x3 (63:0), x2 (127:64), x1
    (191:128). N is read as u32 (KVM and TF-A both cast x1); N > 192 -> INVALID_PARAMETERS;
    N = 0 as for RND32."""
    count = call.arg32(1)
    if count > RND64_MAX_BITS or (count == 0 and env.profile != KVM):
        return _invalid(env, "TRNG_RND64: N above 192 (or 0, which TF-A refuses) -> INVALID_PARAMETERS")
    value = env.entropy.bits(count, consume=not dry_run)
    return env.results(TrngRet.SUCCESS, value >> 128, (value >> 64) & MASK64, value & MASK64,
                       "TRNG_RND64: N random bits right-aligned in x3, x2, x1")
