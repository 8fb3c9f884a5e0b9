"""The native call path (machine/native.py, _native.c, issue 16): the C interrupt hook that
answers the session's constant answers must leave no trace of itself. Every bundled guest
gives the same stop, call history and UART output with it on and off; recordings, traces
and replays are the same with HCDBG_NATIVE=0 and 1; a filter or rule changed between runs is
obeyed from the next call; the history stays complete past the C buffer and at 10M calls.
Real Unicorn and the bundled guests; each test says which path it expects to be live.
"""
from __future__ import annotations

import gc
import os
import shutil
import struct
import subprocess
import sys
import weakref

import pytest

from conftest import ROOT, guest
from test_real_guests import LINUX, needs_linux
from hcdbg.handlers.registry import FirmwareConfig
from hcdbg.machine import loader, native
from hcdbg.machine.machine import MachineConfig
from hcdbg.policy.answers import parse_answer_rule
from hcdbg.session.session import Session
from hcdbg.smccc import ids
from hcdbg.smccc.source import BY_USER, DENIED
from hcdbg.stop import StopKind

pytestmark = pytest.mark.skipif(native._LIB is None, reason=f"no native call path: {native.WHY_NOT}")

NOT_SUPPORTED = (1 << 64) - 1
GUESTS = sorted(p.stem for p in (ROOT / "guests").glob("*.elf"))


@pytest.fixture
def native_switch(monkeypatch):
    """set(on): machines made from now on use the native path or not."""
    def set_(on: bool) -> None:
        monkeypatch.setattr(native, "ENABLED", on)
    yield set_


def _session(name: str, smp: int = 1, calls: int | None = None, profile: str = "kvm",
             uart: list[bytes] | None = None) -> Session:
    sink = uart.append if uart is not None else (lambda _data: None)
    session = Session(loader.load(guest(name)), MachineConfig(smp=smp, timeslice=0),
                      FirmwareConfig(profile=profile, seed=1), uart_sink=sink)
    if calls is not None:
        session.machine.write_memory(session.machine.image.symbols.lookup("bench_count"),
                                     struct.pack("<Q", calls))
    return session


def _seen(session: Session) -> list[tuple]:
    return [(r.seq, r.trap, r.source, r.answer, r.why, r.effect) for r in session.history]


def _both(native_switch, make, run):
    """(result with native on, with native off) of run(make())."""
    out = []
    for on in (True, False):
        native_switch(on)
        session = make()
        assert (session.machine.native is not None) == on
        out.append((run(session), session))
    return out


@pytest.mark.parametrize("name", GUESTS)
@pytest.mark.parametrize("smp", [1, 4])
def test_every_bundled_guest_runs_the_same_with_native_on_and_off(native_switch, name, smp):
    results = []
    for on in (True, False):
        native_switch(on)
        uart: list[bytes] = []
        session = _session(name, smp, calls=3000 if name == "bench-calls" else None, uart=uart)
        stops = []
        for _ in range(3):  # a few runs: the table is rebuilt each time
            stop = session.cont(max_insns=3_000_000)
            stops.append((stop.kind, stop.vcpu, stop.pc, stop.reason))
            if not stop.resumable or stop.kind is StopKind.CALL:
                break
        results.append((stops, _seen(session), b"".join(uart)))
        if on and name == "bench-calls":
            assert session.machine.native.answered > 2900  # the C hook did answer them
    assert results[0] == results[1]


@needs_linux
def test_linuxs_firmware_probe_runs_the_same_with_native_on_and_off(native_switch):
    """Debian's kernel on 1 vCPU, its clock counting instructions (timeslice 0), up to
    100M instructions (past psci_probe and time_init): the same stop, calls and console."""
    results = []
    for on in (True, False):
        native_switch(on)
        uart: list[bytes] = []
        mem = 512 << 20
        session = Session(loader.load(LINUX, ram_size=mem),
                          MachineConfig(ram_size=mem, timeslice=0, bootargs="earlycon=pl011,0x9000000"),
                          FirmwareConfig(profile="kvm", seed=1), uart_sink=uart.append)
        assert (session.machine.native is not None) == on
        stop = session.cont(max_insns=100_000_000)
        results.append(((stop.kind, stop.pc), _seen(session), b"".join(uart)))
    assert results[0] == results[1]
    (kind, _pc), seen, console = results[0]
    assert kind is StopKind.MAX_INSNS and len(seen) >= 10
    assert b"psci: PSCIv1.1 detected in firmware." in console


def test_more_calls_than_the_buffer_holds_keep_their_order(native_switch):
    calls = 3 * native.CAPACITY + 17
    (on, fast), (off, slow) = _both(native_switch, lambda: _session("bench-calls", calls=calls),
                                    lambda s: s.cont(max_insns=100_000_000).kind)
    assert on == off == StopKind.POWER_OFF
    assert len(fast.history) == len(slow.history) == calls + 1
    assert _seen(fast) == _seen(slow)
    assert fast.history.buffers()[0] == slow.history.buffers()[0]  # the same blocks, deduplicated
    assert fast.history.buffers()[1] == slow.history.buffers()[1]


def test_steps_and_budgets_end_where_they_do_without_it(native_switch):
    def run(s: Session) -> list:
        out = []
        for n in (1, 7, 1000, 33_333, 250_000):
            stop = s.step(0, n) if n < 1000 else s.cont(max_insns=n)
            out.append((stop.kind, stop.pc, len(s.history)))
        return out
    (a, fast), (b, slow) = _both(native_switch, lambda: _session("bench-calls", calls=50_000), run)
    assert a == b and _seen(fast) == _seen(slow)


def test_a_filter_changed_between_runs_is_obeyed_by_the_next_call(native_switch):
    native_switch(True)
    session = _session("bench-calls", calls=50_000)
    assert session.cont(max_insns=100_000).kind is StopKind.MAX_INSNS
    before, answered = len(session.history), session.machine.native.answered
    assert answered > 10
    session.filter.add(ids.PSCI_VERSION, 1, "deny")
    session.cont(max_insns=100_000)
    after = session.history[before:]
    assert after and all(r.source == DENIED and r.answer[0] == NOT_SUPPORTED for r in after
                         if r.fid == ids.PSCI_VERSION)
    assert session.machine.native.answered > answered + 10  # denials answered in C too


def test_an_answer_rule_is_obeyed_by_the_next_call(native_switch):
    native_switch(True)
    session = _session("bench-calls", calls=50_000)
    session.cont(max_insns=100_000)
    before, answered = len(session.history), session.machine.native.answered
    session.rules.add(parse_answer_rule("PSCI_VERSION -> 0x20000"))
    session.cont(max_insns=100_000)
    after = [r for r in session.history[before:] if r.fid == ids.PSCI_VERSION]
    assert after and all(r.answer[0] == 0x20000 for r in after)
    assert session.machine.native.answered == answered  # rules: the Python path sees each call


def test_a_rewind_and_a_restart_number_on(native_switch):
    def run(s: Session) -> list:
        s.cont(max_insns=100_000)
        kept = len(s.history)
        s.cont(max_insns=100_000)
        del s.history[kept:]
        first = _seen(s)
        s.restart()
        s.cont(max_insns=200_000)
        return [kept, first, _seen(s)]
    (a, _), (b, _) = _both(native_switch, lambda: _session("bench-calls", calls=40_000), run)
    assert a == b and a[0] > 0


@pytest.mark.parametrize("name, smp", [("bench-calls", 1), ("conduits", 1), ("psci-tour", 4)])
def test_a_recording_is_the_same_with_native_on_and_off(native_switch, tmp_path, name, smp):
    lines = []
    for on in (True, False):
        native_switch(on)
        session = _session(name, smp, calls=3000 if name == "bench-calls" else None)
        session.cont(max_insns=20_000)  # some calls natively, then a recording from mid-run
        path = tmp_path / f"{on}.calls"
        session.start_recording(path)
        session.cont(max_insns=50_000_000)
        session.stop_recording()
        lines.append((path.read_text().splitlines()[1:], _seen(session)))
    assert lines[0] == lines[1] and lines[0][0]


def _cli(*args: str, native_on: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HCDBG_NATIVE=native_on)
    return subprocess.run([sys.executable, "-m", "hcdbg", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)


@pytest.mark.parametrize("name", ["bench-calls", "psci-tour", "smccc-probe"])
def test_trace_and_replay_are_the_same_with_hcdbg_native_0(tmp_path, name):
    script = tmp_path / "run.calls"
    rec = _cli("trace", name, "--record", str(script), "-o", os.devnull, native_on="1")
    assert rec.returncode == 0, rec.stderr
    outputs = []
    for on in ("1", "0"):
        out, again = tmp_path / f"trace-{on}.txt", tmp_path / f"again-{on}.calls"
        trace = _cli("trace", name, "-o", str(out), native_on=on)
        assert trace.returncode == 0, trace.stderr
        replay = _cli("replay", str(script), "-o", os.devnull, "--record", str(again), native_on=on)
        assert replay.returncode == 0, replay.stderr
        outputs.append((trace.stdout, out.read_text(), replay.stdout, replay.stderr,
                        again.read_text().splitlines()[1:]))
    assert outputs[0] == outputs[1]


def test_without_the_extension_the_repl_says_so_once_and_answers_in_python(tmp_path):
    """An install with no C compiler: the package without its compiled modules."""
    shutil.copytree(ROOT / "hcdbg", tmp_path / "hcdbg",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HCDBG_NATIVE": "1"}
    r = subprocess.run([sys.executable, "-m", "hcdbg", "--batch", "-ex", "c", "-ex", "info firmware",
                        "-ex", "calls", str(guest("psci-tour"))], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    note = "note: no native call path (the extension was not built (no C compiler at install))"
    assert r.stdout.count(note) == 1
    assert "Calls answered: Python fast path (native path off: the extension was not built" in r.stdout
    assert "guest powered off (PSCI_SYSTEM_OFF)" in r.stdout and "PSCI_CPU_ON" in r.stdout
    for on in "10":  # built: no note, nor when the user turned it off
        assert "no native call path" not in _cli("--batch", "-ex", "quit", "bench-calls", native_on=on).stdout


def test_calls_back_and_info_firmware_in_the_repl():
    texts = {}
    for on in ("1", "0"):
        r = _cli("--batch", "-ex", "c", "-ex", "calls", "-ex", "back", "-ex", "info firmware",
                 "bench-calls", native_on=on)
        assert r.returncode == 0, r.stderr
        texts[on] = r.stdout
    assert "native path" in texts["1"] and "HCDBG_NATIVE=0" in texts["0"]
    strip = [[ln for ln in texts[on].splitlines() if not ln.startswith("Calls answered")] for on in "10"]
    assert strip[0] == strip[1]


def test_the_c_state_is_freed_with_the_last_vcpu(native_switch):
    native_switch(True)
    gc.disable()
    try:
        session = _session("bench-calls", calls=1000)
        session.cont()
        owner = session.machine.native._owner
        gone = weakref.ref(session)
        del session
        assert gone() is None  # the session without the collector, as before
    finally:
        gc.enable()
    gc.collect()  # the machine's hooks hold it in a cycle (its ctypes thunks)
    assert owner.address == 0 and owner.users == 0


def test_ten_million_calls_are_all_in_the_history(native_switch):
    native_switch(True)
    calls = 10_000_000
    session = _session("bench-calls", calls=calls)
    assert session.cont().kind is StopKind.POWER_OFF
    history = session.history
    assert len(history) == calls + 1
    regs, which, tails = history.buffers()
    assert len(which) == len(tails) == calls + 1
    assert len(regs) == 3 * 152  # the first call, the loop's, SYSTEM_OFF: blocks shared
    assert session.machine.native.answered >= calls - calls // native.CAPACITY - 2
    assert [r.seq for r in history[calls - 2:]] == [calls - 1, calls, calls + 1]
    assert history[5_000_000].fid == ids.PSCI_VERSION and history[5_000_000].answer[0] == 0x10001
    assert history[-1].fid == ids.PSCI_SYSTEM_OFF
    assert BY_USER not in {history[0].source, history[-1].source}


# --- a hand-made guest that exercises what the C hook checks ---------------------------------
def _movz(rd: int, imm: int, hw: int = 0) -> int:
    return 0xD280_0000 | hw << 21 | imm << 5 | rd


def _movk(rd: int, imm: int, hw: int) -> int:
    return 0xF280_0000 | hw << 21 | imm << 5 | rd


def _x(rd: int, value: int) -> list[int]:
    """x<rd> := value (32 bits)."""
    return [_movz(rd, value & 0xFFFF), _movk(rd, value >> 16, 1)]


def _hvc(imm: int) -> int:
    return 0xD400_0002 | imm << 5


def _smc(imm: int) -> int:
    return 0xD400_0003 | imm << 5


def _caller(smp: int, at: int) -> bytes:
    """vCPU 0 starts vCPUs 1.. at `loop`; every vCPU then calls for ever: PSCI_VERSION by
    HVC #0 and #5 (one table entry, two immediates), SMCCC_VERSION by SMC #0 and SMC #1
    (KVM answers the latter -1: never in C) and then by HVC (same x0, the other table),
    PSCI_VERSION with x5 counting (a new block each call) and with an upper half in x0
    (never learnt), PSCI_FEATURES (not constant)."""
    words: list[int] = []
    for target in range(1, smp):
        words += _x(0, ids.PSCI_CPU_ON_64) + [_movz(1, target), _movz(3, 0)]
        words += [0] * 2  # x2 := loop, patched below
        words.append(_hvc(0))
    loop = at + 4 * len(words)
    for i, w in enumerate(words):
        if w == 0:
            words[i] = _x(2, loop)[0] if words[i + 1] == 0 else _x(2, loop)[1]
    version, smccc = _x(0, ids.PSCI_VERSION), _x(0, ids.SMCCC_VERSION)  # x0 again: answers overwrite it
    body = (version + [_hvc(0)] + version + [_hvc(5)]
            + smccc + [_smc(0)] + smccc + [_smc(1)] + smccc + [_hvc(0)]
            + [0x9100_04A5] + version + [_hvc(0)]  # add x5, x5, #1 (answers write x0..x3)
            + version + [_movk(0, 1, 2), _hvc(0)] + _x(0, ids.PSCI_FEATURES) + [_hvc(0)])
    words += body
    words.append(0x1400_0000 | (-len(body) & 0x3FF_FFFF))  # b loop
    return b"".join(struct.pack("<I", w) for w in words)


@pytest.mark.parametrize("direct", [True, False], ids=["in-place", "register-api"])
@pytest.mark.parametrize("smp", [1, 4])
def test_a_guest_calling_every_way_gets_the_same_history(native_switch, monkeypatch, smp, direct):
    """The C hook reads and writes the registers in place (cpuregs.py) or, where that
    is not proven, through libunicorn's batch API: either way as the Python path."""
    monkeypatch.setattr(native, "DIRECT", direct)
    at = 0x4080_0000

    def make() -> Session:
        session = _session("bench-calls", smp)
        session.machine.write_memory(at, _caller(smp, at))
        session.machine.vcpus[0].pc = at
        return session

    def run(s: Session) -> list:
        stops = []
        for budget in (20_000, 60_000, 200_000):
            stop = s.cont(max_insns=budget)
            stops.append((stop.kind, stop.vcpu, stop.pc))
        return stops
    (a, fast), (b, slow) = _both(native_switch, make, run)
    assert a == b and all(kind is StopKind.MAX_INSNS for kind, _, _ in a)
    assert _seen(fast) == _seen(slow)
    assert fast.history.buffers() == slow.history.buffers()
    answered = fast.machine.native.answered
    assert 1000 < answered < len(fast.history)  # both paths answered calls
    assert fast.machine.native.direct is direct
    seen = {(r.trap.vcpu, r.trap.conduit, r.trap.imm) for r in fast.history}
    assert {(v, "hvc", 5) for v in range(smp)} <= seen and (0, "smc", 1) in seen


def test_time_slices_and_an_interrupt_from_another_thread_leave_a_whole_history(native_switch):
    """4 vCPUs on 1 ms time slices (stopped from the preempter's thread) and a stop from yet
    another thread, while the C hook answers: nothing to compare with (the interleaving is
    the host's), but every call is there, in order, each vCPU's calls answered as they must."""
    import threading

    native_switch(True)
    at, smp = 0x4080_0000, 4
    session = Session(loader.load(guest("bench-calls")), MachineConfig(smp=smp, timeslice=0.001),
                      FirmwareConfig(profile="kvm", seed=1), uart_sink=lambda _data: None)
    session.machine.write_memory(at, _caller(smp, at))
    session.machine.vcpus[0].pc = at
    for _ in range(3):
        timer = threading.Timer(0.3, session.interrupt)
        timer.start()
        stop = session.cont()
        timer.join()
        assert stop.kind is StopKind.INTERRUPT, stop.reason
    history = session.history
    regs, which, tails = history.buffers()
    assert len(which) == len(tails) == len(history) > 10_000
    assert session.machine.native.answered > 10_000
    assert len(regs) % 152 == 0 and max(which) == len(regs) // 152 - 1
    assert list(which) == sorted(which)  # blocks in call order
    by_vcpu = {v: 0 for v in range(smp)}
    answers: dict[tuple, set] = {}
    for r in history:
        by_vcpu[r.trap.vcpu] += 1
        if r.fid != ids.PSCI_CPU_ON_64:
            answers.setdefault((r.trap.regs[0], r.trap.conduit, r.trap.imm), set()).add(r.answer[0])
        if r.fid == ids.SMCCC_VERSION:
            assert (r.answer[0] == NOT_SUPPORTED) == (r.trap.conduit == "smc" and r.trap.imm == 1)
    assert all(n > 100 for n in by_vcpu.values()), by_vcpu
    assert all(len(a) == 1 for a in answers.values()), answers  # constant answers, every call
    assert answers[(ids.PSCI_VERSION, "hvc", 5)] == {0x10001}
