"""Where the native call path reads and writes x0..x17 and PC (machine/cpuregs.py): found on
this Unicorn, proven by behaviour, and a wrong place is refused by the same proof. Real
Unicorn engines; the expected values are what Unicorn's own register API returns."""
from __future__ import annotations

import ctypes

import pytest
from unicorn import arm64_const as arm64

from conftest import guest
from hcdbg.machine import cpuregs, irqline, loader, native
from hcdbg.machine.machine import MachineConfig
from hcdbg.machine.registers import CALL_REGS
from hcdbg.session.session import Session

pytestmark = pytest.mark.skipif(not irqline.available(), reason="uc_struct.cpu not found")


def test_the_registers_are_found_and_proven_on_this_unicorn():
    at = cpuregs.offset()
    assert at is not None and at % 8 == 0
    assert cpuregs._prove(at)


@pytest.mark.parametrize("delta", [-8, 8, 16, 24])
def test_a_wrong_place_fails_the_proof(delta):
    """One to three registers off (within the register file: the proof writes there)."""
    assert cpuregs.offset() is not None
    assert not cpuregs._prove(cpuregs.offset() + delta)


def test_every_vcpu_of_a_machine_reads_its_own_registers():
    session = Session(loader.load(guest("psci-tour")), MachineConfig(smp=4))
    for vcpu in session.machine.vcpus:
        words = (ctypes.c_uint64 * 33).from_address(cpuregs.address(vcpu.uc))
        for n, reg in enumerate(CALL_REGS):
            vcpu.uc.reg_write(reg, 0x1000 * vcpu.index + n)
        vcpu.uc.reg_write(arm64.UC_ARM64_REG_PC, 0x4000_0000 + 4 * vcpu.index)
        assert list(words[:18]) == [0x1000 * vcpu.index + n for n in range(18)]
        assert words[32] == 0x4000_0000 + 4 * vcpu.index


@pytest.mark.skipif(native._LIB is None, reason=f"no native call path: {native.WHY_NOT}")
def test_the_native_path_uses_them_and_info_firmware_says_so():
    session = Session(loader.load(guest("bench-calls")), MachineConfig())
    assert session.machine.native is not None and session.machine.native.direct
    assert "in place" in session.call_path()
