"""--record then --replay: what a person answered in the REPL, answered again in CI."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import run_hcdbg


def _record_by_hand(tmp_path: Path) -> Path:
    rec = tmp_path / "session.jsonl"
    r = run_hcdbg("--batch", "--record", str(rec), "-ex", "filter add PSCI_VERSION forward",
                  "-ex", "c", "-ex", "reply 0x10000", "-ex", "filter del", "-ex", "c", "psci-tour")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    return rec


def test_replay_gives_the_hand_answers_again_and_runs_the_built_ins_for_real(tmp_path: Path) -> None:
    rec = _record_by_hand(tmp_path)
    r = run_hcdbg("trace", "psci-tour", "--replay", str(rec))
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.splitlines()
    assert out[0] == "PSCI_VERSION -> 0x0000000000010000"  # the answer typed in the REPL
    # CPU_ON was answered by the built-in again, so the secondaries really started.
    assert [ln for ln in out if ln.startswith("cpu ")] == [
        "cpu 0x1 up, context 0x1001", "cpu 0x2 up, context 0x1002", "cpu 0x3 up, context 0x1003"]
    assert "<replay reply>" in r.stderr.splitlines()[0]


def test_a_different_call_is_a_divergence(tmp_path: Path) -> None:
    rec = _record_by_hand(tmp_path)
    r = run_hcdbg("trace", "smccc-probe", "--replay", str(rec))
    assert r.returncode == 1
    assert "replay diverged on vCPU 0" in r.stderr and "0x80000000" in r.stderr
    assert "Traceback" not in r.stderr


def test_recorded_calls_the_guest_never_makes_fail_the_run(tmp_path: Path) -> None:
    rec = tmp_path / "hello.jsonl"
    assert run_hcdbg("trace", "hello", "--record", str(rec)).returncode == 0
    lines = rec.read_text().splitlines()
    rec.write_text("\n".join(lines + lines) + "\n")  # a second SYSTEM_OFF that never comes
    r = run_hcdbg("trace", "hello", "--replay", str(rec))
    assert r.returncode == 1
    assert "1 recorded call(s) not made" in r.stderr


def test_a_file_that_is_not_a_recording_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"fid": "0x84000000"}) + "\n")
    r = run_hcdbg("trace", "hello", "--replay", str(bad))
    assert r.returncode == 2
    assert "bad.jsonl:1: not a hcdbg call record" in r.stderr
