"""Slices counted by blocks (machine/blocks.py): once several vCPUs take exceptions or use
their GIC, a C block hook ends each slice at a block's start instead of Unicorn's count on
every instruction. Every instruction must still run exactly once (smp-check), every
exception must still be delivered (a hand-made guest whose vCPUs take SVCs in a loop), and
the check can fail: without exactstop's switch the same slices run instructions twice.
Real Unicorn, real guests."""
from __future__ import annotations

import struct

import pytest

from conftest import guest
from hcdbg.machine import blocks, loader
from hcdbg.machine.engine import new_engine
from hcdbg.machine.machine import MachineConfig
from hcdbg.session.session import Session
from hcdbg.stop import StopKind
from test_native import _x
from unicorn import arm64_const as arm64

pytestmark = pytest.mark.skipif(not blocks.available(), reason="no block-counted slices here")

PASS = "smp-check PASS"


@pytest.fixture(autouse=True)
def _slices(monkeypatch):
    """slices(n): block-counted slices of n instructions (blocks.SLICE), so that short
    guests take many."""
    def set_(n: int) -> None:
        monkeypatch.setattr(blocks, "SLICE", n)
    set_(20_000)
    return set_


def _smp_check(count: int, smp: int = 4) -> tuple[Session, bytearray]:
    """smp-check, as if it had taken an exception already: from its first slice the
    machine may not stop a vCPU from another thread, so its slices are counted."""
    out = bytearray()
    image = loader.load(guest("smp-check"))
    session = Session(image, MachineConfig(smp=smp), uart_sink=out.extend)
    session.machine.write_memory(image.symbols.lookup("check_count"), struct.pack("<Q", count))
    session.machine.exceptions_delivered = True
    return session, out


def _block_slices(session: Session) -> int:
    return sum(b.slices for b in session.machine._blocks if b is not None)


@pytest.mark.parametrize("budget, blocks_run", [(1, 1), (6, 1), (7, 2), (12, 2), (13, 3)])
def test_a_slice_runs_its_budget_plus_the_rest_of_its_last_block(budget, blocks_run):
    """A loop of one 6-instruction block (five adds and a branch back): the slice stops at
    the start of the first block that finds the budget spent, before any of it runs."""
    uc = new_engine()
    uc.mem_map(0x1000, 0x1000)
    uc.mem_write(0x1000, struct.pack("<6I", *[0x9100_0421] * 5, 0x17FF_FFFB))  # add x1, x1, #1; b
    budget_of = blocks.BlockBudget(uc)
    assert budget_of.arm(budget)
    uc.emu_start(0x1000, 0x2000)
    budget_of.disarm()
    assert uc.reg_read(arm64.UC_ARM64_REG_X1) == 5 * blocks_run
    assert uc.reg_read(arm64.UC_ARM64_REG_PC) == 0x1000  # at the start of the block not run


def test_smp_check_passes_on_slices_counted_by_blocks():
    for run in range(5):
        session, out = _smp_check(200_000)
        assert session.cont().kind is StopKind.POWER_OFF
        assert PASS in out.decode(), f"run {run}: {out.decode()}"
        assert _block_slices(session) > 100


def test_a_slice_counted_by_blocks_is_blocks_slice_long_whatever_the_quantum(_slices):
    """--quantum sets Unicorn-counted slices (deterministic runs); block-counted ones are
    blocks.SLICE long: five times longer slices, about a fifth as many."""
    taken = []
    for n in (20_000, 100_000):
        _slices(n)
        session, out = _smp_check(200_000)
        assert session.cont().kind is StopKind.POWER_OFF and PASS in out.decode()
        taken.append(_block_slices(session))
    assert taken[0] > 3 * taken[1] > 0


def test_slices_smaller_than_a_block_still_move_on(_slices):
    """7-instruction slices: most blocks are longer than a slice's budget; each slice runs
    its first block whole, so the guest still ends, and passes."""
    _slices(7)
    session, out = _smp_check(5_000)
    assert session.cont().kind is StopKind.POWER_OFF
    assert PASS in out.decode() and _block_slices(session) > 1000


def test_a_budget_or_a_counted_clock_keeps_unicorns_count():
    for config, budget in ((MachineConfig(smp=4), 3_000_000), (MachineConfig(smp=4, timeslice=0), None)):
        out = bytearray()
        image = loader.load(guest("smp-check"))
        session = Session(image, config, uart_sink=out.extend)
        session.machine.write_memory(image.symbols.lookup("check_count"), struct.pack("<Q", 20_000))
        session.machine.exceptions_delivered = True
        session.cont(max_insns=budget)
        assert _block_slices(session) == 0


# --- every vCPU takes SVCs in a loop; the handler counts them -----------------------------
_SVC, _HVC, _ERET = 0xD400_0001, 0xD400_0002, 0xD69F_03E0
_SUBS_X5, _ADD_X6, _STR_X6_X7 = 0xF100_04A5, 0x9100_04C6, 0xF900_00E6


def _b_ne(offset: int) -> int:
    return 0x5400_0001 | ((offset >> 2) & 0x7FFFF) << 5


def _svc_guest(at: int) -> bytes:
    """loop: svc #0; subs x5, x5, #1; b.ne loop; str x6, [x7]; CPU_OFF. Vectors at at+0x800:
    the current-EL synchronous entry counts in x6 and returns (ERET to after the SVC)."""
    words = [_SVC, _SUBS_X5, _b_ne(-8), _STR_X6_X7, *_x(0, 0x8400_0002), _HVC, 0x1400_0000]
    code = b"".join(struct.pack("<I", w) for w in words).ljust(0x800 + 0x200, b"\0")
    return code + struct.pack("<2I", _ADD_X6, _ERET)


@pytest.mark.parametrize("smp", [2, 4])
def test_every_svc_is_delivered_on_slices_counted_by_blocks(smp, _slices):
    _slices(997)
    at, loops = 0x4080_0000, 20_000
    session = Session(loader.load(guest("bench-calls")), MachineConfig(smp=smp), uart_sink=lambda _d: None)
    machine = session.machine
    machine.write_memory(at, _svc_guest(at))
    cells = at + 0x2000
    for v in machine.vcpus:
        if v.index:
            machine.power_on_vcpu(0, v.index, at, 0)
        uc = v.uc
        uc.reg_write(arm64.UC_ARM64_REG_PC, at)
        uc.reg_write(arm64.UC_ARM64_REG_VBAR_EL1, at + 0x800)
        uc.reg_write(arm64.UC_ARM64_REG_X5, loops + v.index)
        uc.reg_write(arm64.UC_ARM64_REG_X6, 0)
        uc.reg_write(arm64.UC_ARM64_REG_X7, cells + 8 * v.index)
    stop = session.cont()
    assert stop.kind is StopKind.HALTED, stop.reason  # every vCPU called CPU_OFF
    counted = struct.unpack(f"<{smp}Q", machine.read_memory(cells, 8 * smp))
    assert counted == tuple(loops + i for i in range(smp))
    assert _block_slices(session) > 100  # a slice ends ~every 1,000 instructions
