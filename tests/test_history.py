"""The call history a session keeps (session/history.py) and the trap's fast path that fills
it (machine/fastcalls.py): what `calls`, `back` and rewinds read must not depend on which
path answered a call, a filter changed at the prompt is obeyed by the next run at once, and
a session nobody holds is freed with its history without waiting for the garbage collector.
"""
from __future__ import annotations

import gc
import struct
import weakref

import pytest

from conftest import guest
from hcdbg.handlers.registry import FirmwareConfig
from hcdbg.machine import loader
from hcdbg.machine.machine import MachineConfig
from hcdbg.session.history import CallHistory
from hcdbg.session.session import Session
from hcdbg.smccc import ids
from hcdbg.smccc.call import Answer, Call
from hcdbg.smccc.source import BUILT_IN, BY_USER, DENIED
from hcdbg.stop import StopKind

NOT_SUPPORTED = (1 << 64) - 1  # -1 in x0 (DEN0028 §7; DEN0022D.b §5.2.2)


def _session(name: str, smp: int = 1, profile: str = "kvm", calls: int | None = None,
             full_path: bool = False) -> Session:
    session = Session(loader.load(guest(name)), MachineConfig(smp=smp),
                      FirmwareConfig(profile=profile, seed=1), uart_sink=lambda _data: None)
    if calls is not None:
        session.machine.write_memory(session.machine.image.symbols.lookup("bench_count"),
                                     struct.pack("<Q", calls))
    if full_path:  # someone watching every call: the trap hands each one to the session
        session.on_record = lambda _record: None
    return session


def _run(session: Session) -> None:
    stop = session.cont(max_insns=50_000_000)
    assert stop.kind is StopKind.POWER_OFF, stop.reason


def _seen(session: Session) -> list[tuple]:
    return [(r.seq, r.trap, r.source, r.answer, r.why, r.effect) for r in session.history]


@pytest.mark.parametrize("name, smp, profile", [
    ("bench-calls", 1, "kvm"),  # one constant answer, over and over
    ("smccc-probe", 1, "kvm"),  # FEATURES probes: answers that depend on x1
    ("conduits", 1, "kvm"),  # HVC and SMC, non-zero immediates (KVM: SMC #1 -> -1)
    ("conduits", 1, "qemu"),  # the other conduit is UNDEFINED: an answer with an effect
    ("psci-tour", 4, "kvm"),  # 4 vCPUs, CPU_ON and AFFINITY_INFO (state), SYSTEM_OFF
    ("trng", 1, "kvm"),  # fresh answers every call (entropy)
])
def test_the_history_is_the_same_whichever_path_answered(name, smp, profile):
    calls = 500 if name == "bench-calls" else None
    fast = _session(name, smp, profile, calls)
    full = _session(name, smp, profile, calls, full_path=True)
    _run(fast)
    _run(full)
    assert len(fast.history) == len(full.history) > 0
    assert _seen(fast) == _seen(full)
    if name == "bench-calls":  # 500 PSCI_VERSION calls, then SYSTEM_OFF
        versions = [r for r in fast.history if r.fid == ids.PSCI_VERSION]
        assert len(versions) == 500
        assert {r.answer[0] for r in versions} == {0x10001}  # PSCI 1.1 (KVM, DEN0022D.b §5.3)
        assert [r.seq for r in fast.history] == list(range(1, 502))


def test_a_filter_changed_between_runs_is_obeyed_from_the_next_call():
    session = _session("bench-calls", calls=20_000)
    stop = session.cont(max_insns=100_000)  # part of the loop: PSCI_VERSION answered, then learnt
    assert stop.kind is StopKind.MAX_INSNS
    before = len(session.history)
    assert before > 10 and session.history[-1].answer[0] == 0x10001
    session.filter.add(ids.PSCI_VERSION, 1, "deny")
    _run(session)
    after = session.history[before:]
    versions = [r for r in after if r.fid == ids.PSCI_VERSION]
    assert versions and all(r.source == DENIED and r.answer[0] == NOT_SUPPORTED for r in versions)


def test_a_rewind_forgets_the_later_calls_and_the_next_ones_number_on():
    session = _session("bench-calls", calls=30_000)
    session.cont(max_insns=100_000)
    kept = len(session.history)
    assert 0 < kept < 30_000
    first = _seen(session)
    _run(session)
    del session.history[kept:]
    assert _seen(session) == first
    session.restart()
    assert len(session.history) == 0
    _run(session)  # the guest as loaded: its own bench_count
    assert len(session.history) > 1
    assert [r.seq for r in session.history] == list(range(1, len(session.history) + 1))
    assert session.history[0].trap == first[0][1]


def test_a_session_nobody_holds_is_freed_without_the_garbage_collector():
    gc.disable()
    try:
        session = _session("bench-calls", calls=1000)
        _run(session)
        history = weakref.ref(session.history)
        gone = weakref.ref(session)
        del session
        assert gone() is None and history() is None
    finally:
        gc.enable()


def test_records_read_back_what_was_added():
    history = CallHistory()
    regs = tuple(range(100, 118))
    call = Call(ids.PSCI_CPU_ON_64, (ids.PSCI_CPU_ON_64, 1, 0x4008_0000, 0xFFFF_FFFF_FFFF_FFFF) + regs[4:],
                "smc", 7, 3, 0x4000_1234)
    mine = Answer({0: 0}, None, "answered by hand")
    history.add(call, BY_USER, mine)
    history.add(call._replace(vcpu=1, conduit="hvc", imm=0), BUILT_IN, Answer({0: 0}, None, "answered by hand"))
    assert len(history) == 2
    first, second = history[0], history[1]
    assert first.trap == call and first.seq == 1 and first.source == BY_USER
    assert first.answer == {0: 0} and first.why == "answered by hand"
    assert second.trap.vcpu == 1 and second.trap.conduit == "hvc" and second.source == BUILT_IN
    assert [r.seq for r in history[-1:]] == [2]
    with pytest.raises(IndexError):
        history[2]


@pytest.mark.parametrize("name, smp", [("bench-calls", 1), ("conduits", 1), ("psci-tour", 4)])
def test_a_recording_is_the_same_whichever_path_answered(tmp_path, name, smp):
    lines = []
    for full_path in (False, True):
        session = _session(name, smp, calls=300 if name == "bench-calls" else None, full_path=full_path)
        path = tmp_path / f"{full_path}.calls"
        session.start_recording(path)
        _run(session)
        session.stop_recording()
        text = path.read_text()
        assert text.endswith("}\n")  # cut at its last line when closed: no padding left
        lines.append(text.splitlines()[1:])  # the header holds the time it was made
    fast, full = lines
    assert len(fast) == len(full) > 0 and fast == full


@pytest.mark.parametrize("name", ["bench-calls", "conduits", "psci-tour", "smccc-probe"])
def test_trace_prints_the_same_whichever_path_answered(tmp_path, name):
    import os
    from conftest import ROOT
    import subprocess
    import sys
    outputs = []
    for fast in ("1", "0"):
        out = tmp_path / f"trace-{fast}.txt"
        env = dict(os.environ, PYTHONPATH=str(ROOT), HCDBG_FAST_PATH=fast)
        proc = subprocess.run([sys.executable, "-m", "hcdbg", "trace", name, "-o", str(out)],
                              capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        outputs.append((proc.stdout, out.read_text()))
    assert outputs[0] == outputs[1]
    assert outputs[0][1].endswith("\n") and "+++ " in outputs[0][1].splitlines()[-1]


@pytest.mark.parametrize("name", ["bench-calls", "psci-tour", "conduits"])
def test_a_replay_answers_the_same_whichever_path_answered(tmp_path, name):
    import os
    from conftest import ROOT
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    script = tmp_path / "run.calls"
    rec = subprocess.run([sys.executable, "-m", "hcdbg", "trace", name, "--record", str(script),
                          "-o", os.devnull], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert rec.returncode == 0, rec.stderr
    outputs = []
    for fast in ("1", "0"):
        out = tmp_path / f"replay-{fast}.txt"
        again = tmp_path / f"again-{fast}.calls"
        proc = subprocess.run([sys.executable, "-m", "hcdbg", "replay", str(script), "-o", str(out),
                               "--record", str(again)],
                              capture_output=True, text=True, timeout=300, cwd=ROOT,
                              env=dict(env, HCDBG_FAST_PATH=fast))
        assert proc.returncode == 0, proc.stderr
        outputs.append((proc.stdout, proc.stderr, out.read_text(), again.read_text().splitlines()[1:]))
    assert outputs[0] == outputs[1]
    assert "as scripted" in outputs[0][1]


def test_calls_with_the_same_registers_share_a_block_and_read_back_whole():
    from hcdbg.session.history import RecentCalls
    base = (ids.PSCI_VERSION,) + tuple(range(1, 18))
    calls = [Call(ids.PSCI_VERSION, base, "hvc", 0, 0, 0x4000_1000)] * 3 + [
        Call(ids.PSCI_VERSION, base[:5] + (99,) + base[6:], "hvc", 0, 1, 0x4000_1000),
        Call(ids.PSCI_VERSION, base, "hvc", 0, 0, 0x4000_1000)]
    answer = Answer({0: 0x10001}, None, "PSCI_VERSION")
    for history in (CallHistory(), RecentCalls(2)):
        for call in calls:
            history.add(call, BUILT_IN, answer)
        kept = calls if not isinstance(history, RecentCalls) else calls[-2:]
        if isinstance(history, RecentCalls):
            history.trim()
        assert len(history) == 5
        assert [r.trap for r in history] == kept
        assert [r.seq for r in history] == list(range(6 - len(kept), 6))
    history = CallHistory()
    for call in calls:
        history.add(call, BUILT_IN, answer)
    blocks, which, _tails = history.buffers()
    assert len(blocks) == 3 * 152 and list(which) == [0, 0, 0, 1, 2]  # 3 the same, then 2 changes
    del history[4:]
    history.add(calls[0], BUILT_IN, answer)
    assert [r.trap for r in history] == calls[:4] + [calls[0]]
    del history[1:]
    assert [r.trap for r in history] == calls[:1] and len(history.buffers()[0]) == 152
