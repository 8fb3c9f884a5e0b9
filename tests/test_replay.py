"""Call scripts: record a session (by hand in the REPL, or a trace), replay it in CI with
`hcdbg replay`, edit it, hand-write one; bad scripts and a killed recording."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pexpect.popen_spawn import PopenSpawn

from conftest import ROOT, run_hcdbg
from hcdbg.session.callscript import parse_entry
from hcdbg.smccc.source import AnswerSource, parse_by


def run_bytes(*args: str) -> subprocess.CompletedProcess:
    """hcdbg with stdout kept as bytes (the guest's UART, byte for byte)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "hcdbg", *args], capture_output=True, timeout=120,
                          env=env, cwd=ROOT)


def entries(path: Path) -> list[dict]:
    """The call entries of a script (header, comments and markers left out)."""
    objs = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [o for o in objs if "fid" in o or "name" in o]


def edit(path: Path, index: int, **changes: object) -> None:
    """Change call entry `index` (1-based) of the script at `path`."""
    lines = path.read_text().splitlines()
    n = 0
    for i, ln in enumerate(lines):
        obj = json.loads(ln)
        if "fid" in obj:
            n += 1
            if n == index:
                obj.update(changes)
                lines[i] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")


def record_by_hand(tmp_path: Path) -> tuple[Path, str]:
    """psci-tour in the REPL (batch): PSCI_VERSION answered 0x10000 by hand, PSCI_FEATURES
    of CPU_SUSPEND denied by hand, the rest built-in. The script and the guest's output."""
    rec = tmp_path / "tour.calls"
    r = run_hcdbg("--batch", "--record", str(rec),
                  "-ex", "filter add PSCI_VERSION forward", "-ex", "c", "-ex", "reply 0x10000",
                  "-ex", "filter del 1", "-ex", "answer PSCI_FEATURES x1=0x84000001 -> NOT_SUPPORTED",
                  "-ex", "c", "-ex", "uart", "psci-tour")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    return rec, r.stdout


def test_a_hand_session_replays_with_the_same_calls_and_the_same_uart_output(tmp_path: Path) -> None:
    rec, repl_out = record_by_hand(tmp_path)
    head = json.loads(rec.read_text().splitlines()[0])
    assert head["hcdbg"] == 1 and head["guest"]["name"] == "psci-tour"
    assert head["machine"]["smp"] == 4 and head["firmware"]["psci_version"] == "1.1"
    assert len(head["guest"]["sha256"]) == 64
    calls = entries(rec)
    assert calls[0]["name"] == "PSCI_VERSION" and calls[0]["answer"] == {"x0": "0x10000"}
    assert calls[0]["by"] == "user"
    assert calls[2]["args"] == {"x1": "0x84000001"} and calls[2]["by"] == "rule 1"
    assert calls[-1]["name"] == "PSCI_SYSTEM_OFF"

    r = run_bytes("replay", str(rec))
    assert r.returncode == 0, r.stderr.decode()
    uart = r.stdout.decode()
    assert uart.startswith("PSCI_VERSION -> 0x0000000000010000\n")  # the hand answer
    assert "PSCI_FEATURES(0x84000001) -> 0xffffffffffffffff" in uart  # the rule's answer
    # CPU_ON was answered by the built-in again, so the secondaries really ran.
    assert "cpu 0x3 up, context 0x1003" in uart
    # The REPL's `uart` command printed the recorded run's whole output: the same text.
    assert uart in repl_out
    assert f"made the script's {len(calls)} call(s) as scripted" in r.stderr.decode()


def test_a_traced_recording_replays_byte_for_byte_even_with_random_numbers(tmp_path: Path) -> None:
    rec = tmp_path / "trng.calls"
    first = run_bytes("trace", "trng", "--record", str(rec))  # no --seed: one is chosen and kept
    assert first.returncode == 0
    assert json.loads(rec.read_text().splitlines()[0])["firmware"]["seed"] is not None
    again = run_bytes("replay", str(rec))
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout == first.stdout


def test_an_edited_answer_changes_what_the_guest_does(tmp_path: Path) -> None:
    rec, _ = record_by_hand(tmp_path)
    edit(rec, 1, answer={"x0": "0x10001"})
    r = run_hcdbg("replay", str(rec))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "PSCI_VERSION -> 0x0000000000010001"


def test_an_edited_function_id_is_a_divergence_naming_the_entry(tmp_path: Path) -> None:
    rec, _ = record_by_hand(tmp_path)
    edit(rec, 5, fid="0x84000002")  # the guest calls PSCI_FEATURES there, not CPU_OFF
    r = run_hcdbg("replay", str(rec))
    assert r.returncode == 1
    err = r.stderr.splitlines()
    assert err[0].startswith("hcdbg: replay diverged at script entry 5 (line 6)")
    assert err[1].startswith("  expected  [vcpu0] hvc#0 PSCI_CPU_OFF(x1=0x")
    assert err[2].startswith("  actual    [vcpu0] hvc#0 PSCI_FEATURES(psci_func_id=0x")
    assert "function ID 0x8400000a (PSCI_FEATURES), expected 0x84000002 (PSCI_CPU_OFF)" in err[3]
    assert "  last calls before it:" in err and err[-1].startswith("    #4 [vcpu0] hvc#0 PSCI_FEATURES")
    assert "Traceback" not in r.stderr


def test_calls_the_script_has_but_the_guest_never_makes_fail(tmp_path: Path) -> None:
    rec = tmp_path / "hello.calls"
    assert run_hcdbg("trace", "hello", "--record", str(rec)).returncode == 0
    with rec.open("a") as f:
        f.write('{"name": "PSCI_VERSION"}\n')
    r = run_hcdbg("replay", str(rec))
    assert r.returncode == 1
    assert "with 1 call(s) of the script not made; next: entry 2 (line 3) [vcpu?] ?#? PSCI_VERSION()" in r.stderr


def test_recording_never_overwrites_a_file_silently(tmp_path: Path) -> None:
    rec = tmp_path / "kept.calls"
    rec.write_text("precious\n")
    r = run_hcdbg("trace", "hello", "--record", str(rec))
    assert r.returncode == 2 and "file exists, not overwriting it" in r.stderr
    assert rec.read_text() == "precious\n"
    assert run_hcdbg("trace", "hello", "--record", str(rec), "--overwrite").returncode == 0
    assert entries(rec)[0]["name"] == "PSCI_SYSTEM_OFF"


def test_the_bundled_teaching_script_replays_and_its_hand_answer_reaches_the_guest() -> None:
    r = run_hcdbg("replay", "guests/trng.calls")
    assert r.returncode == 0, r.stderr
    # TRNG_RND64 answered NO_ENTROPY (-3, DEN0098 §2.4 table) by the script, not the built-in.
    assert "TRNG_RND64(0x40) -> 0xfffffffffffffffd" in r.stdout


def test_expectations_only_and_relaxed_checks(tmp_path: Path) -> None:
    script = tmp_path / "expect.calls"
    script.write_text('{"name": "TRNG_VERSION"}\n{"name": "TRNG_FEATURES", "args": {"function_id": "0x1"}}\n')
    strict = run_hcdbg("replay", str(script), "trng")
    assert strict.returncode == 1
    assert "differs:  x1 (function_id) = 0x84000050, expected 0x1" in strict.stderr
    loose = run_hcdbg("replay", str(script), "trng", "--ignore-args")
    assert loose.returncode == 1  # the args pass now; the guest goes on past the script's end
    assert "the guest made a call past the script's end" in loose.stderr


@pytest.mark.parametrize("line, message", [
    ("{not json", "not JSON"),
    ('{"name": "PSCI_VERSON"}', "unknown function 'PSCI_VERSON'; did you mean PSCI_VERSION"),
    ('{"fid": "0x84000000", "anwser": "0x1"}', "unknown key 'anwser'"),
    ('{"fid": "banana"}', "fid: bad value 'banana'"),
    ('{"fid": "0x84000000", "vcpu": "zero"}', "vcpu: expected a vCPU number"),
    ('{"fid": "0x84000000", "conduit": "svc"}', 'conduit: expected "hvc" or "smc"'),
    ('{"fid": "0x84000000", "answer": {"x18": 1}}', "answer: unknown register 'x18'"),
    ('{"fid": "0x84000000", "args": [1]}', "args: expected an object"),
    ('{"fid": "0x84000000", "by": "me"}', "by: expected one of user, built-in, deny"),
    ('{"name": "PSCI_CPU_ON"}', "is 0x84000003 or 0xc4000003"),
    ("[1, 2]", "expected a JSON object"),
    ('{"back": 9}', "back: expected a call count from 0 to 1"),
    ('{"uart": 5}', 'console input is {"uart": "TEXT"} alone'),
])
def test_a_bad_script_exits_2_naming_the_line(tmp_path: Path, line: str, message: str) -> None:
    script = tmp_path / "bad.calls"
    script.write_text(f'# a comment\n{{"name": "TRNG_VERSION"}}\n\n{line}\n')
    r = run_hcdbg("replay", str(script), "trng")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"hcdbg: {script}:4: "), r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_a_bad_header_value_exits_2(tmp_path: Path) -> None:
    script = tmp_path / "bad.calls"
    script.write_text('{"hcdbg": 1, "machine": {"smp": "four"}}\n')
    r = run_hcdbg("replay", str(script), "trng")
    assert r.returncode == 2 and "machine.smp = 'four': expected int" in r.stderr


def test_a_recording_killed_with_sigkill_holds_every_answered_call(tmp_path: Path) -> None:
    rec = tmp_path / "killed.calls"
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp_path))
    child = PopenSpawn([sys.executable, "-m", "hcdbg", "--record", str(rec), "psci-tour"],
                       env=env, cwd=ROOT, encoding="utf-8", timeout=60)
    try:
        child.expect_exact("(hcdbg)")
        child.sendline("filter add PSCI_FEATURES forward")
        child.expect_exact("(hcdbg)")
        child.sendline("c")  # PSCI_VERSION (built-in), then stop at the 1st PSCI_FEATURES
        for _ in range(3):
            child.expect_exact("(hcdbg)")
            child.sendline("handle")
            child.expect_exact("(hcdbg)")
            child.sendline("c")
        child.expect_exact("(hcdbg)")  # at the 4th PSCI_FEATURES: the call in flight
        child.kill(signal.SIGKILL)
        child.wait()
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
    assert [c["name"] for c in entries(rec)] == ["PSCI_VERSION"] + ["PSCI_FEATURES"] * 3
    assert run_hcdbg("replay", str(rec), "--max-insns", "1").returncode == 1  # it parses: not 2


def test_vcpu_interleaving_is_checked_unless_any_vcpu_order(tmp_path: Path) -> None:
    rec = tmp_path / "tour.calls"
    assert run_hcdbg("trace", "psci-tour", "--record", str(rec)).returncode == 0
    lines = rec.read_text().splitlines()
    # Find the first call a secondary vCPU makes and move it before vCPU 0's call above it.
    i = next(n for n, ln in enumerate(lines[1:], 1) if json.loads(ln)["vcpu"] != 0)
    lines[i - 1], lines[i] = lines[i], lines[i - 1]
    rec.write_text("\n".join(lines) + "\n")
    strict = run_hcdbg("replay", str(rec))
    assert strict.returncode == 1 and f"diverged at script entry {i - 1}" in strict.stderr
    relaxed = run_hcdbg("replay", str(rec), "--any-vcpu-order")
    assert relaxed.returncode == 0, relaxed.stderr


def test_replaying_against_another_build_of_the_guest_warns(tmp_path: Path) -> None:
    rec = tmp_path / "hello.calls"
    assert run_hcdbg("trace", "hello", "--record", str(rec)).returncode == 0
    other = tmp_path / "hello-rebuilt.elf"
    other.write_bytes((ROOT / "guests/hello.elf").read_bytes() + b"\0")
    r = run_hcdbg("replay", str(rec), str(other))
    assert r.returncode == 0
    assert f"warning: {other} is not the recorded guest (SHA-256" in r.stderr


@pytest.mark.parametrize("by", ["user", "built-in", "deny", "rule 3"])
def test_who_answered_keeps_its_script_spelling(by: str) -> None:
    """Scripts written before issue 12 load as they did; a replayed answer keeps its source
    and says so in trace lines (`<replay reply>`, `<replay handle>`, `<rule 3>` ...)."""
    entry = parse_entry({"fid": "0x84000000", "answer": "0x10000", "by": by}, 1, 1)
    assert entry.by == parse_by(by) and entry.by.by == by and not entry.by.replay
    again = entry.by.replayed()
    assert again.kind is entry.by.kind and again.replay and again.by == by
    word = "rule 3" if entry.by.kind is AnswerSource.RULE else entry.by.kind.word
    assert (str(entry.by), str(again)) == (word, f"replay {word}")


@pytest.mark.parametrize("how", ["--smp 1", "no machine in the header"])
def test_a_recorded_cpu_on_that_cannot_start_a_cpu_is_a_divergence(tmp_path: Path, how: str) -> None:
    # A 4-vCPU recording replayed on one vCPU: the recorded CPU_ON SUCCESS started no CPU,
    # and the guest waited for it forever (the replay hung).
    rec = tmp_path / "tour.calls"
    assert run_hcdbg("trace", "psci-tour", "--smp", "4", "--record", str(rec)).returncode == 0
    args = ["--smp", "1"]
    if how != "--smp 1":
        lines = rec.read_text().splitlines()
        head = json.loads(lines[0])
        del head["machine"]
        rec.write_text("\n".join([json.dumps(head)] + lines[1:]) + "\n")
        args = [str(ROOT / "guests" / "psci-tour.elf")]  # a path: one vCPU unless told
    r = run_hcdbg("replay", str(rec), *args, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "replay diverged at script entry 41" in r.stderr
    assert "the recorded answer's effect CpuOn cannot happen in this run" in r.stderr


def test_a_guest_that_runs_on_without_a_call_after_the_script_is_a_divergence(tmp_path: Path) -> None:
    # mov w0, #0x84000000 (PSCI_VERSION); hvc #0; b . -- recorded until --max-insns: its
    # replay ran forever after the one call. A default budget after the last call ends it.
    guest = tmp_path / "spin.bin"
    guest.write_bytes(b"".join(w.to_bytes(4, "little") for w in (0x52B08000, 0xD4000002, 0x14000000)))
    rec = tmp_path / "spin.calls"
    run_hcdbg("trace", str(guest), "--load", "0x40080000", "--max-insns", "100000", "--record", str(rec))
    assert len(entries(rec)) == 1
    r = run_hcdbg("replay", str(rec), timeout=60)
    assert r.returncode == 1, r.stderr
    assert ("replay diverged: the guest made the script's 1 call(s), then no call in the "
            "100,000,000 instructions after the script's last call (vCPU 0, pc 0x40080008)") in r.stderr


def test_any_vcpu_order_bookkeeping_through_a_checkpoint() -> None:
    """With --any-vcpu-order each vCPU takes its own next entry: taken out of order, the
    entries left, `done`, and a checkpoint's save and restore must all agree with the script."""
    from hcdbg.session.callscript import Entry, Script
    from hcdbg.session.replayer import Replay
    from hcdbg.smccc.call import Call
    version, features = 0x8400_0000, 0x8400_000A
    entries = tuple(Entry(index=i, line=i + 1, fid=fid, vcpu=cpu)
                    for i, (fid, cpu) in enumerate([(version, 0), (version, 1), (features, 1),
                                                    (features, 0)], 1))
    rep = Replay(Script(Path("s.calls"), {}, entries), any_vcpu_order=True)

    def call(fid: int, cpu: int) -> Call:
        return Call(fid=fid, regs=(fid,) + (0,) * 17, vcpu=cpu, conduit="hvc", imm=0, pc=0)

    assert rep.take(call(version, 1)) is entries[1]  # vCPU 1 first: out of order
    saved = rep.save_state()
    assert rep.take(call(features, 1)) is entries[2]
    assert rep.remaining() == [entries[0], entries[3]]
    rep.restore_state(saved)
    assert rep.remaining() == [entries[0], entries[2], entries[3]]
    assert rep.take(call(version, 0)) is entries[0]
    assert rep.take(call(features, 0)) is entries[3]
    assert not rep.done and rep.remaining() == [entries[2]]
    assert rep.take(call(features, 1)) is entries[2]
    assert rep.done and rep.remaining() == []
