"""Rewind at the engine level, on real guests: after `back`, RAM, every vCPU's registers and
power state, the UART, the call history, the firmware's TRNG stream and the answer-rule
counts are what they were at the checkpoint, and the guest goes on from there."""
from __future__ import annotations

import hashlib
import json
import mmap
from pathlib import Path

import pytest

from conftest import guest
from hcdbg.handlers.base import PowerState
from hcdbg.handlers.registry import FirmwareConfig
from hcdbg.machine import board as B
from hcdbg.machine import loader
from hcdbg.machine import registers as R
from hcdbg.machine.checkpoint import PAGE, Checkpointer, _Block
from hcdbg.machine.machine import MachineConfig
from hcdbg.stop import StopKind
from hcdbg.policy.answers import parse_answer_rule
from hcdbg.policy.ranges import Action, parse_range
from hcdbg.session.checkpoint_stack import NothingToRewind, Rewind
from hcdbg.session.session import Session
from hcdbg.smccc.source import by_rule

#: Every register a vCPU has by name, the system registers included.
REGISTERS = [*R.REGS, *(n for n in R.SYSREGS if n != "currentel")]


def session(name: str = "psci-tour", *forward: str, smp: int = 4, mem: int = 128 << 20,
            seed: int | None = None) -> Session:
    s = Session(loader.load(guest(name)), MachineConfig(smp=smp, ram_size=mem),
                FirmwareConfig(seed=seed))
    for text in forward:
        for base, count in parse_range(text):
            s.filter.add(base, count, Action.FORWARD)
    return s


def snapshot(s: Session) -> dict[str, object]:
    """What must be equal after going back: memory, registers, power, UART, history."""
    m = s.machine
    return {
        "ram": hashlib.sha256(m.read_memory(B.RAM_BASE, m.config.ram_size)).hexdigest(),
        "regs": [{n: v.read(n) for n in REGISTERS} for v in m.vcpus],
        "power": [v.state for v in m.vcpus],
        "uart": bytes(m.uart.output),
        "history": list(s.history),
        "pending": s.pending.trap if s.pending is not None else None,
        "last_stop": s.last_stop,
    }


def run_to_end(s: Session) -> None:
    s.filter.clear()
    if s.pending is not None and s.pending.answer is None:
        s.handle()
    assert s.cont().kind is StopKind.POWER_OFF


def test_back_undoes_a_run_and_the_guest_takes_another_answer() -> None:
    s = session("psci-tour", "PSCI_VERSION")
    rw = Rewind(s)
    rw.checkpoint()  # at the entry point
    stop = s.cont()
    assert stop.kind is StopKind.CALL
    cp = rw.checkpoint()
    at_call = snapshot(s)
    s.reply({0: 0x10000})
    run_to_end(s)
    rw.checkpoint()
    assert b"PSCI_VERSION -> 0x0000000000010000\n" in s.machine.uart.output

    assert rw.back() == cp
    assert snapshot(s) == at_call
    assert s.pending is not None and s.pending.answer is None  # answer it again
    assert [c.number for c in rw.checkpoints] == [0, 1]  # the later one is dropped

    s.reply({0: 0x10001})
    run_to_end(s)
    fresh = session("psci-tour", "PSCI_VERSION")
    fresh.cont()
    fresh.reply({0: 0x10001})
    run_to_end(fresh)
    # The same guest output, byte for byte, as a run that was answered 0x10001 at once.
    assert bytes(s.machine.uart.output) == bytes(fresh.machine.uart.output)
    assert b"PSCI_VERSION -> 0x0000000000010001\n" in s.machine.uart.output
    assert [r.answer for r in s.history] == [r.answer for r in fresh.history]


def test_secondaries_started_after_a_checkpoint_are_off_again() -> None:
    # Stop at the first CPU_ON (vCPUs 1..3 off), then at vCPU 1's CPU_OFF (vCPU 1 on, with
    # its own stack and vectors), then run to the end.
    s = session("psci-tour", "PSCI_CPU_ON", "PSCI_CPU_OFF")
    rw = Rewind(s)
    rw.checkpoint()
    stop = s.cont()
    assert stop.kind is StopKind.CALL and stop.trap and stop.trap.regs[1] == 1
    rw.checkpoint()
    before_on = snapshot(s)
    assert before_on["power"] == [PowerState.ON, PowerState.OFF, PowerState.OFF, PowerState.OFF]
    s.handle()
    stop = s.cont()
    assert stop.kind is StopKind.CALL and stop.vcpu == 1
    rw.checkpoint()
    secondary_on = snapshot(s)
    assert secondary_on["power"][1] is PowerState.ON
    vbar = secondary_on["regs"][1]["vbar_el1"]  # type: ignore[index]
    assert vbar == s.machine.image.symbols.lookup("vectors")  # install_vectors ran on vCPU 1
    run_to_end(s)

    rw.back()
    assert snapshot(s) == secondary_on
    rw.back()
    assert snapshot(s) == before_on
    assert [v.state for v in s.machine.vcpus][1:] == [PowerState.OFF] * 3
    # From there the tour runs as it did: every secondary starts, prints and stops again.
    run_to_end(s)
    out = bytes(s.machine.uart.output)
    assert out.count(b" up, context 0x100") == 3 and out.endswith(b"SYSTEM_OFF\n")


def test_the_trng_stream_and_rule_counts_go_back_too() -> None:
    s = session("trng", "TRNG_VERSION", smp=1, seed=7)
    s.rules.add(parse_answer_rule("TRNG_RND64 #2 -> NO_ENTROPY"))
    rw = Rewind(s)
    rw.checkpoint()
    s.cont()
    rw.checkpoint()
    counts, used = s.rules.counts(), s.firmware.entropy_used
    run_to_end(s)
    first = [(r.fid, r.answer) for r in s.history]
    later = parse_answer_rule("TRNG_RND64 -> 0x5")  # added after the checkpoint: counts from 0
    s.rules.add(later)

    rw.back()
    assert s.rules.counts() == [*counts, 0]
    assert s.firmware.entropy_used == used
    s.rules.remove(2)
    run_to_end(s)
    # Seeded: the same random words again, and rule #2 fires on the same call again.
    assert [(r.fid, r.answer) for r in s.history] == first
    assert sum(1 for r in s.history if r.source == by_rule(1)) == 1


def test_memory_and_code_written_after_a_checkpoint_read_as_before() -> None:
    s = session("hello", smp=1)
    m = s.machine
    rw = Rewind(s)
    rw.checkpoint()
    far = B.RAM_BASE + (100 << 20)  # a page nothing touched
    entry = m.image.entry
    code = m.read_memory(entry, 4)
    m.write_memory(far, b"\x5a" * 3 * PAGE)
    m.write_memory(entry, (0).to_bytes(4, "little"))  # udf #0 where the guest starts
    stop = s.cont()
    assert stop.kind is StopKind.EXCEPTION and stop.pc == entry  # no vectors yet
    rw.checkpoint()
    rw.back()
    assert m.read_memory(far, 3 * PAGE) == bytes(3 * PAGE)
    assert m.read_memory(entry, 4) == code
    # The udf translated at the entry point is not reused: the real code runs.
    assert s.cont().kind is StopKind.POWER_OFF
    assert b"Hello" in m.uart.output


def test_a_checkpoint_costs_what_changed_not_the_size_of_ram() -> None:
    s = session("psci-tour", "PSCI_VERSION", "PSCI_CPU_OFF", mem=2 << 30)
    rw = Rewind(s)
    assert rw.tracks_pages  # this kernel's pagemap is readable
    rw.checkpoint()
    s.cont()
    cp = rw.checkpoint()
    s.reply({0: 0x10001})
    s.cont()
    cp2 = rw.checkpoint()
    # A few stack and data pages changed between the stops, out of 2 GiB: only they are kept.
    undo = sum(len(old) for delta in cp2.machine.undo for _, old in delta)
    assert 0 < undo <= 64 * PAGE
    assert cp.machine.size < (1 << 20)
    rw.back()
    assert rw.restored_bytes <= 2 * undo


def test_nothing_to_go_back_to_is_an_error_naming_the_earliest() -> None:
    s = session("hello", smp=1)
    rw = Rewind(s)
    with pytest.raises(NothingToRewind, match="not stopped"):
        rw.back()
    rw.checkpoint()
    with pytest.raises(NothingToRewind, match="checkpoint 0 is the earliest"):
        rw.back()
    s.cont()
    rw.checkpoint()
    with pytest.raises(NothingToRewind, match="cannot go back 2: only 1 earlier checkpoint"):
        rw.back(2)
    assert rw.back(1).number == 0


def test_a_small_budget_drops_the_oldest_checkpoints() -> None:
    s = session("psci-tour", "psci")
    rw = Rewind(s, budget=1)  # any checkpoint is over budget: only the latest two stay
    rw.checkpoint()
    for _ in range(5):
        s.cont()
        rw.checkpoint()
        s.handle()
    assert [c.number for c in rw.checkpoints] == [4, 5]
    assert rw.back().number == 4
    with pytest.raises(NothingToRewind, match="earliest"):
        rw.back()


def test_flash_written_by_firmware_goes_back(tmp_path: Path) -> None:
    # At 0 (the flash banks, as QEMU's -bios): store a counter to flash 0x1000, RAM_BASE and
    # RAM_BASE + 16 MiB, then PSCI_VERSION; loop. Assembled with aarch64-linux-gnu-as; no
    # x0..x3, which KVM's answer zeroes.
    words = (0xD282000A,  # movz x10, #0x1000
             0xD2A8000B,  # movz x11, #0x4000, lsl #16
             0xD2A8200C,  # movz x12, #0x4100, lsl #16
             0x91000529,  # 1: add x9, x9, #1
             0xF9000149,  # str x9, [x10]
             0xF9000169,  # str x9, [x11]
             0xF9000189,  # str x9, [x12]
             0x52B08000,  # movz w0, #0x8400, lsl #16
             0xD4000002,  # hvc #0
             0x17FFFFFA)  # b 1b
    path = tmp_path / "flash.bin"
    path.write_bytes(b"".join(w.to_bytes(4, "little") for w in words))
    s = Session(loader.load(path, load_addr=0), MachineConfig())
    s.filter.add(0x8400_0000, 1, Action.FORWARD)
    rw = Rewind(s)
    rw.checkpoint()
    for _ in range(3):
        s.cont()
        rw.checkpoint()
        s.handle()
    m = s.machine

    def counters() -> list[int]:
        return [int.from_bytes(m.read_memory(a, 8), "little")
                for a in (0x1000, B.RAM_BASE, B.RAM_BASE + (16 << 20))]

    assert counters() == [3, 3, 3]
    rw.back(2)
    assert counters() == [1, 1, 1]
    s.handle()
    s.cont()
    assert counters() == [2, 2, 2]


def test_without_pagemap_every_page_is_compared() -> None:
    # The fallback when /proc/self/pagemap is unreadable: all pages count as in use.
    block = mmap.mmap(-1, 64 * PAGE)
    tracked = _Block(block, pagemap=False)
    assert not tracked.tracks_pages
    assert tracked.capture(keep=False) == ()  # all zero, like the shadow
    block[5 * PAGE:5 * PAGE + 3] = b"abc"
    block[63 * PAGE] = 1
    undo = tracked.capture(keep=True)
    assert [(off, len(old)) for off, old in undo] == [(5 * PAGE, PAGE), (63 * PAGE, PAGE)]
    block[6 * PAGE] = 9
    assert tracked.revert() == PAGE and block[6 * PAGE] == 0
    tracked.undo(undo)
    assert block[:] == bytes(64 * PAGE)


def test_the_recording_is_told_when_calls_are_undone(tmp_path: Path) -> None:
    s = session("psci-tour", "PSCI_VERSION", "PSCI_FEATURES")
    path = tmp_path / "calls.jsonl"
    s.start_recording(path)
    rw = Rewind(s)
    rw.checkpoint()
    s.cont()
    rw.checkpoint()
    s.reply({0: 0x10000})
    s.cont()
    rw.checkpoint()
    rw.back()
    # Read live: the file ends in the blank padding of the recording's window (appendfile.py).
    last = json.loads([ln for ln in path.read_text().splitlines() if ln.strip()][-1])
    assert last == {"back": 0}  # the one call recorded since no longer stands


def test_checkpointer_restores_a_machine_that_ran_on() -> None:
    s = session("hello", smp=1)
    cpr = Checkpointer(s.machine)
    first = cpr.capture(first=True)
    s.cont()
    assert s.machine.uart.output
    cpr.restore([], first)
    assert s.machine.vcpus[0].pc == s.machine.image.entry
    assert s.machine.uart.output == b""
