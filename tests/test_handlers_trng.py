"""TRNG 1.0 handlers: bit counts and layout, N out of range, UUIDs, seeds and dry runs.

Layout and error rules are the reference's §3.1 (DEN0098): RND32 right-aligned in w3, w2,
w1; RND64 in x3, x2, x1; INVALID_PARAMETERS (-2) with x1..x3 = 0 in KVM.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers_support import Board, call, u64
from hcdbg.handlers.registry import Firmware, FirmwareConfig

RND32, RND64 = 0x8400_0053, 0xC400_0053
INVALID_PARAMETERS = u64(-2)
M32, M64 = (1 << 32) - 1, (1 << 64) - 1


def entropy_of(regs: dict[int, int], word_bits: int) -> int:
    """Reassemble the N bits: x3 (lowest), x2, x1 (highest)."""
    return regs[3] | regs[2] << word_bits | regs[1] << 2 * word_bits


@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=2**32))
def test_rnd64_bit_count(count, seed) -> None:
    answer = Firmware(FirmwareConfig(seed=seed)).answer(call(RND64, count), Board())
    if count > 192:
        assert answer.regs == {0: INVALID_PARAMETERS, 1: 0, 2: 0, 3: 0}
        return
    assert answer.regs[0] == 0  # N = 0 included: KVM accepts it (reference §3.1, §7 item 5)
    assert all(0 <= answer.regs[n] <= M64 for n in (1, 2, 3))
    assert entropy_of(answer.regs, 64).bit_length() <= count  # only the N low bits may be set


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_rnd32_bit_count(count, seed) -> None:
    answer = Firmware(FirmwareConfig(seed=seed)).answer(call(RND32, count), Board())
    if count > 96:
        assert answer.regs == {0: INVALID_PARAMETERS, 1: 0, 2: 0, 3: 0}
        return
    assert answer.regs[0] == 0
    assert all(0 <= answer.regs[n] <= M32 for n in (1, 2, 3))  # w registers: high halves zero
    assert entropy_of(answer.regs, 32).bit_length() <= count


@given(st.integers(min_value=1, max_value=192))
def test_rnd64_uses_the_high_bits_for_large_requests(count) -> None:
    # Over many seeds some value reaches the top bit: the N bits really are used (not just allowed).
    top = max(entropy_of(Firmware(FirmwareConfig(seed=s)).answer(call(RND64, count), Board()).regs, 64)
              .bit_length() for s in range(64))
    assert top == count


def test_n_is_read_as_32_bits() -> None:
    # KVM (kvm/trng.c `u32 num_bits`) and TF-A (`(uint32_t)x1`) both narrow N.
    answer = Firmware(FirmwareConfig(seed=3)).answer(call(RND64, 0x1_0000_0040), Board())
    assert answer.regs[0] == 0 and answer.regs[1] == 0 and answer.regs[2] == 0


def test_n_zero_differs_by_profile() -> None:
    # reference §3.1, §7 item 5: KVM succeeds with zero bits; TF-A says INVALID_PARAMETERS (x0 only)
    kvm = Firmware().answer(call(RND64, 0), Board())
    assert kvm.regs == {0: 0, 1: 0, 2: 0, 3: 0}
    tfa = Firmware(FirmwareConfig(profile="tf-a", conduit="hvc"))
    assert tfa.answer(call(RND64, 0), Board()).regs == {0: INVALID_PARAMETERS}
    assert tfa.answer(call(RND32, 0), Board()).regs == {0: INVALID_PARAMETERS}
    assert tfa.answer(call(RND32, 97), Board()).regs == {0: INVALID_PARAMETERS}


def test_qemu_has_no_trng() -> None:
    qemu = Firmware(FirmwareConfig(profile="qemu"))
    for fid in (0x8400_0050, 0x8400_0051, 0x8400_0052, RND32, RND64):
        assert qemu.answer(call(fid, 64), Board()).regs == {0: u64(-1)}


def test_same_seed_same_bytes() -> None:
    requests = [(RND64, 192), (RND32, 5), (RND64, 1), (RND32, 96), (RND64, 64), (RND64, 0), (RND32, 33)]

    def run(seed: int) -> list[dict[int, int]]:
        firmware = Firmware(FirmwareConfig(seed=seed))
        return [firmware.answer(call(fid, n), Board()).regs for fid, n in requests]

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_dry_run_does_not_advance_the_stream() -> None:
    for seed in (7, None):  # None: os.urandom, still peeked rather than drawn
        firmware = Firmware(FirmwareConfig(seed=seed))
        first = firmware.answer(call(RND64, 192), Board(), dry_run=True)
        again = firmware.answer(call(RND64, 192), Board(), dry_run=True)
        real = firmware.answer(call(RND64, 192), Board())
        after = firmware.answer(call(RND64, 192), Board())
        assert first == again == real
        assert after != real


def test_dry_run_then_a_different_request_sees_the_same_stream() -> None:
    peeked = Firmware(FirmwareConfig(seed=9))
    peeked.answer(call(RND64, 192), Board(), dry_run=True)
    plain = Firmware(FirmwareConfig(seed=9))
    assert peeked.answer(call(RND32, 17), Board()) == plain.answer(call(RND32, 17), Board())


def test_rnd32_layout() -> None:
    regs = Firmware(FirmwareConfig(seed=5)).answer(call(RND32, 32), Board()).regs
    assert regs[1] == 0 and regs[2] == 0  # 32 bits fit in w3


def test_trng_version_and_features() -> None:
    firmware = Firmware()
    assert firmware.answer(call(0x8400_0050), Board()).regs == {0: 0x10000, 1: 0, 2: 0, 3: 0}
    for fid in (0x8400_0050, 0x8400_0051, 0x8400_0052, RND32, RND64):
        assert firmware.answer(call(0x8400_0051, fid), Board()).regs[0] == 0
    for other in (0x8400_0000, 0x8400_0054, 0xC400_0050):
        assert firmware.answer(call(0x8400_0051, other), Board()).regs[0] == u64(-1)


def test_kvm_trng_uuid() -> None:
    # reference §3.1: KVM's back end 0d21e000-4384-11eb-8070-5244554e5a4c as LE words
    regs = Firmware().answer(call(0x8400_0052), Board()).regs
    assert regs == {0: 0x00E0_210D, 1: 0xEB11_8443, 2: 0x4452_7080, 3: 0x4C5A_4E55}


def test_tfa_trng_uuid() -> None:
    # TF-A has no plat/qemu TRNG; the profile takes Juno's: plat/arm/board/juno/juno_trng.c
    # DEFINE_SVC_UUID2(_plat_trng_uuid, 0x23523c58, 0x7448, 0x4083, 0x9d, 0x16, 0xe3, 0xfa,
    # 0xb9, 0xf1, 0x73, 0xbc), whose bytes are 23 52 3c 58 74 48 40 83 9d 16 e3 fa b9 f1 73 bc;
    # include/lib/smccc.h SMC_UUID_RET packs byte 0 into the low bits of w0.
    regs = Firmware(FirmwareConfig(profile="tf-a")).answer(call(0x8400_0052), Board()).regs
    assert regs == {0: 0x583C_5223, 1: 0x8340_4874, 2: 0xFAE3_169D, 3: 0xBC73_F1B9}


@pytest.mark.parametrize("count", [1, 63, 64, 65, 128, 191, 192])
def test_consumes_whole_bytes_per_request(count) -> None:
    firmware = Firmware(FirmwareConfig(seed=1))
    firmware.answer(call(RND64, count), Board())
    firmware.answer(call(RND64, count), Board(), dry_run=True)
    assert firmware.entropy_used == (count + 7) // 8
