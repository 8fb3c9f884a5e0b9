"""Golden call/answer pairs of the reference (§6) against the built-in handlers.

Expected values are the reference's, not hcdbg's: §6 rows 1-17 for the kvm profile (with
x1..x3 = 0, which KVM writes with every result, §1.5 and §5.2), row 18, and the QEMU/TF-A
variants the rows name.
"""
from __future__ import annotations

import pytest

from handlers_support import ON, Board, ClockBoard, call, u64
from hcdbg.handlers.registry import Firmware, FirmwareConfig

ANY = object()  # a register the row leaves free (random bits)

# (row, config, call, expected x0..x3)
KVM_ROWS = [
    (1, {}, call(0x8400_0000), (0x10001, 0, 0, 0)),
    (2, {}, call(0x8000_0000), (0x10001, 0, 0, 0)),
    (3, {}, call(0x8400_000A, 0x8000_0000), (0, 0, 0, 0)),
    (4, {}, call(0x8000_0001, 0x8000_0002), (u64(-1), 0, 0, 0)),
    (5, {}, call(0x8400_0006), (2, 0, 0, 0)),
    (6, {}, call(0xC400_0004, 0, 0), (0, 0, 0, 0)),
    (7, {}, call(0xC400_0003, 0x0, 0x4008_0000), (u64(-4), 0, 0, 0)),
    (8, {}, call(0xC400_0003, 0x1_0000_0000_0000, 0x4008_0000), (u64(-2), 0, 0, 0)),
    (9, {}, call(0x8400_000A, 0x8400_0012), (0, 0, 0, 0)),
    (9, {"psci_version": (1, 0)}, call(0x8400_000A, 0x8400_0012), (u64(-1), 0, 0, 0)),
    (10, {}, call(0xC400_0012, 1), (u64(-2), 0, 0, 0)),
    (11, {}, call(0x8400_0050), (0x10000, 0, 0, 0)),
    (12, {}, call(0x8400_0051, 0xC400_0053), (0, 0, 0, 0)),
    (13, {}, call(0xC400_0053, 193), (u64(-2), 0, 0, 0)),
    (14, {}, call(0xC400_0053, 64), (0, 0, 0, ANY)),
    (15, {}, call(0x8600_FF01), (0xB66F_B428, 0xE911_C52E, 0x564B_CAA9, 0x743A_004D)),
    (16, {}, call(0x8600_0000), (0x3, 0, 0, 0)),
    (17, {}, call(0x8200_0000), (u64(-1), 0, 0, 0)),
]


@pytest.mark.parametrize(("row", "config", "the_call", "expected"), KVM_ROWS,
                         ids=[f"row{r[0]}-{r[2].fid:#x}" for r in KVM_ROWS])
def test_reference_golden_rows_kvm(row, config, the_call, expected) -> None:
    board = ClockBoard()  # row 16's 0x3 includes PTP, which needs a clock to be honest
    assert board.states[0] is ON  # rows 6 and 7: the boot CPU is running
    answer = Firmware(FirmwareConfig(**config)).answer(the_call, board)
    got = tuple(answer.regs.get(n) for n in range(4))
    for n, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want is ANY:
            assert have is not None and 0 <= have < 1 << 64, f"row {row}: x{n}"
        else:
            assert have == want, f"row {row}: x{n} = {have!r}, reference says {want:#x}"


def test_row_18_smc_with_immediate_is_not_an_smccc_call_in_kvm() -> None:
    # §6 row 18 / §1.4: `smc #1` with x0 = PSCI_VERSION -> x0 = -1, no SMCCC handling.
    # KVM writes x0 only (handle_exit.c: vcpu_set_reg(vcpu, 0, ~0UL)).
    answer = Firmware().answer(call(0x8400_0000, 7, 8, 9, conduit="smc", imm=1), Board())
    assert answer.regs == {0: u64(-1)} and answer.effect is None


def test_hvc_immediate_is_not_checked_by_kvm() -> None:
    # §1.4: any HVC immediate goes to the SMCCC handler.
    answer = Firmware().answer(call(0x8400_0000, conduit="hvc", imm=5), Board())
    assert answer.regs[0] == 0x10001


def test_smc_with_zero_immediate_is_answered_by_kvm() -> None:
    answer = Firmware().answer(call(0x8400_0000, conduit="smc"), Board())
    assert answer.regs == {0: 0x10001, 1: 0, 2: 0, 3: 0}


def test_row_2_other_implementations() -> None:
    # §6 row 2: TF-A 0x10005; QEMU TCG 0xFFFFFFFF_FFFFFFFF.
    tfa = Firmware(FirmwareConfig(profile="tf-a", conduit="smc"))
    assert tfa.answer(call(0x8000_0000, conduit="smc"), Board()).regs[0] == 0x10005
    qemu = Firmware(FirmwareConfig(profile="qemu"))
    assert qemu.answer(call(0x8000_0000), Board()).regs[0] == u64(-1)


def test_row_3_qemu_answers_minus_one() -> None:
    # §6 row 3: PSCI_FEATURES(SMCCC_VERSION) is -1 in QEMU.
    qemu = Firmware(FirmwareConfig(profile="qemu"))
    assert qemu.answer(call(0x8400_000A, 0x8000_0000), Board()).regs[0] == u64(-1)


def test_rows_5_and_6_in_qemu() -> None:
    qemu = Firmware(FirmwareConfig(profile="qemu"))
    assert qemu.answer(call(0x8400_0006), Board()).regs == {0: 2}
    assert qemu.answer(call(0xC400_0004, 0, 0), Board()).regs == {0: 0}


def test_row_13_tfa_leaves_x1_to_x3_as_the_caller_set_them() -> None:
    tfa = Firmware(FirmwareConfig(profile="tf-a", conduit="smc"))
    answer = tfa.answer(call(0xC400_0053, 193, conduit="smc"), Board())
    assert answer.regs == {0: u64(-2)}


def test_row_14_tfa_puts_64_bits_in_x3() -> None:
    tfa = Firmware(FirmwareConfig(profile="tf-a", conduit="smc", seed=1))
    regs = tfa.answer(call(0xC400_0053, 64, conduit="smc"), Board()).regs
    assert regs[0] == 0 and regs[1] == 0 and regs[2] == 0 and 0 <= regs[3] < 1 << 64
