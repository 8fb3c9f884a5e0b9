"""Function-ID and call decoding against DEN0028 §2.5 (reference §1.1-§1.4)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcdbg.smccc.catalog import lookup
from hcdbg.smccc.decode import decode, decode_call

U32 = st.integers(min_value=0, max_value=0xFFFF_FFFF)
U64 = st.integers(min_value=0, max_value=0xFFFF_FFFF_FFFF_FFFF)

OWNERS = {
    "Arm Architecture", "CPU Service", "SiP", "OEM", "Standard Secure", "Standard Hypervisor",
    "Vendor Hypervisor", "Vendor EL3 Monitor", "Reserved", "Trusted Application", "Trusted OS",
}


def test_psci_cpu_on_64_fields() -> None:
    f = decode(0xC400_0003)
    assert f.fid == 0xC400_0003
    assert f.fast and f.smc64
    assert f.oen == 4 and f.owner == "Standard Secure"
    assert f.number == 3
    assert f.mbz == 0 and not f.sve_hint
    assert f.compliant and f.problems == ()


def test_psci_version_is_fast_smc32() -> None:
    f = decode(0x8400_0000)
    assert f.fast and not f.smc64
    assert (f.oen, f.number) == (4, 0)
    assert f.width == "SMC32" and f.call_type == "fast"


@pytest.mark.parametrize(
    ("fid", "oen", "owner"),
    [
        (0x8000_0000, 0, "Arm Architecture"),
        (0x8100_0000, 1, "CPU Service"),
        (0x8200_0000, 2, "SiP"),
        (0xC300_0000, 3, "OEM"),
        (0x8400_0000, 4, "Standard Secure"),
        (0xC500_0020, 5, "Standard Hypervisor"),
        (0x8600_FF01, 6, "Vendor Hypervisor"),
        (0x8700_0000, 7, "Vendor EL3 Monitor"),
        (0x8800_0000, 8, "Reserved"),
        (0xAF00_0000, 47, "Reserved"),
        (0xB000_0000, 48, "Trusted Application"),
        (0xB100_0000, 49, "Trusted Application"),
        (0xB200_0000, 50, "Trusted OS"),
        (0xFF00_0000, 63, "Trusted OS"),
    ],
)
def test_owning_entities(fid: int, oen: int, owner: str) -> None:
    f = decode(fid)
    assert (f.oen, f.owner) == (oen, owner)


def test_reserved_owner_is_a_problem() -> None:
    f = decode(0x8C00_0001)
    assert not f.compliant
    assert any(p.startswith("reserved owning entity 12") for p in f.problems)


def test_bit16_is_the_sve_hint_not_an_error() -> None:
    # SMCCC 1.3: bit 16 of a fast call is the SVE hint; bits 23:17 stay MBZ (reference §1.1).
    f = decode(0xC401_0003)
    assert f.sve_hint and f.mbz == 1
    assert f.compliant
    assert (f.oen, f.number) == (4, 3)


@pytest.mark.parametrize("fid", [0x8402_0003, 0x8480_0000, 0xC4FF_0003])
def test_bits_23_17_must_be_zero_in_a_fast_call(fid: int) -> None:
    f = decode(fid)
    assert not f.compliant
    assert any(p.startswith("bits 23:17 must be zero for a fast call") for p in f.problems)
    assert f.mbz == fid >> 16 & 0xFF


def test_yielding_calls_have_no_mbz_rule() -> None:
    f = decode(0x3201_0001)  # yielding, SMC32, OEN 50 (Trusted OS), bits 23:16 = 1
    assert not f.fast and f.call_type == "yielding"
    assert f.owner == "Trusted OS"
    assert not f.sve_hint
    assert f.compliant


def test_only_w0_counts() -> None:
    assert decode(0xFFFF_FFFF_8400_0000).fid == 0x8400_0000
    assert decode(-1).fid == 0xFFFF_FFFF


@given(st.integers(min_value=-(1 << 70), max_value=1 << 70))
def test_decode_never_raises_and_fields_rebuild_the_id(value: int) -> None:
    f = decode(value)
    fid = value & 0xFFFF_FFFF
    assert f.fid == fid
    rebuilt = f.fast << 31 | f.smc64 << 30 | f.oen << 24 | f.mbz << 16 | f.number
    assert rebuilt == fid
    assert f.owner in OWNERS
    assert f.compliant == (not f.problems)
    assert f.sve_hint == (f.fast and bool(fid >> 16 & 1))


@given(U32, st.lists(U64, max_size=18), st.integers(0, 0xFFFF), st.sampled_from(["hvc", "smc"]))
def test_decode_call_never_raises(fid: int, regs: list[int], imm: int, conduit: str) -> None:
    call = decode_call(fid, regs, imm, conduit)
    function = lookup(fid)
    assert call.function is function
    assert call.name == (function.name if function else "UNKNOWN")
    assert len(call.args) == (len(function.args) if function else 6)
    assert (imm != 0) <= (not call.compliant)


def test_smc32_arguments_are_w_registers() -> None:
    # DEN0028 §2.6: an SMC32 callee reads W1..; the upper halves are ignored.
    regs = (0x8400_0003, 0xFFFF_FFFF_0000_0001, 0x1234_5678_4008_0000, 7)
    call = decode_call(0x8400_0003, regs)
    assert call.name == "PSCI_CPU_ON"
    assert call.args == (("target_cpu", 1), ("entry_point_address", 0x4008_0000),
                         ("context_id", 7))
    assert call.compliant
    assert any("x1 bits 63:32" in n for n in call.notes)


def test_smc64_arguments_are_whole_registers() -> None:
    regs = (0xC400_0003, 0x1_0000_0000_0000, 0x4008_0000, 7)
    call = decode_call(0xC400_0003, regs)
    assert call.args[0] == ("target_cpu", 0x1_0000_0000_0000)


def test_unknown_function_shows_six_argument_registers() -> None:
    regs = tuple(range(18))
    smc32 = decode_call(0x8200_0010, regs)
    assert smc32.name == "UNKNOWN" and smc32.function is None
    assert smc32.service == "sip"
    assert [name for name, _ in smc32.args] == ["w1", "w2", "w3", "w4", "w5", "w6"]
    assert [value for _, value in smc32.args] == [1, 2, 3, 4, 5, 6]
    smc64 = decode_call(0xC200_0010, regs)
    assert [name for name, _ in smc64.args] == ["x1", "x2", "x3", "x4", "x5", "x6"]


def test_missing_registers_read_as_zero() -> None:
    call = decode_call(0xC400_0003)
    assert [value for _, value in call.args] == [0, 0, 0]


def test_non_zero_immediate_is_reserved() -> None:
    # Reference §1.4 / §6 row 18: `smc #1` with x0 = PSCI_VERSION.
    call = decode_call(0x8400_0000, (0x8400_0000,), imm=1, conduit="smc")
    assert "non-zero immediate #1: reserved by SMCCC (DEN0028 §2.9)" in call.problems
    assert not call.compliant
    assert decode_call(0x8400_0000, (0x8400_0000,), imm=0, conduit="smc").compliant


def test_call_carries_the_id_problems() -> None:
    call = decode_call(0x8C00_0001)
    assert call.service == "unknown"
    assert any(p.startswith("reserved owning entity 12") for p in call.problems)


def test_upper_half_of_x0_is_ignored() -> None:
    call = decode_call(0x8400_0000, (0xDEAD_0000_8400_0000,))
    assert call.name == "PSCI_VERSION"
    assert any("x0 bits 63:32" in n for n in call.notes)


def test_psci_0_1_ids_are_not_judged_by_smccc_rules() -> None:
    # KVM/QEMU's PSCI 0.1 IDs predate SMCCC (reference §2.1): OEN 21 is reserved and
    # bits 23:16 are set, but the call itself is a valid PSCI 0.1 call.
    assert not decode(0x95C1_BA60).compliant
    call = decode_call(0x95C1_BA60, (0x95C1_BA60, 0x1_0000_0001, 0x4008_0000))
    assert call.name == "PSCI_0_1_CPU_ON"
    assert call.service == "psci"
    assert call.compliant
    assert call.args[0] == ("target_cpu", 0x1_0000_0001)
