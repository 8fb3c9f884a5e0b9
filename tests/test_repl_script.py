"""Call scripts at the prompt: `replay SCRIPT` answers until the guest diverges, then the
diverging call is the user's; `record FILE` / `record stop` mid-session. Through a real pty
and through --batch."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import run_hcdbg
from test_repl_pty import repl  # noqa: F401 - the pty fixture

# trng's 2nd call is TRNG_FEATURES(TRNG_VERSION); this script expects TRNG_GET_UUID there.
SCRIPT = ('{"name": "TRNG_VERSION", "answer": "0x10000"}\n'
          '{"name": "TRNG_GET_UUID"}\n')


def test_replay_at_the_prompt_hands_the_diverging_call_to_the_user(repl, tmp_path: Path) -> None:  # noqa: F811
    script = tmp_path / "expect.calls"
    script.write_text(SCRIPT)
    r = repl("trng", "--no-color")
    r.prompt()
    assert f"replaying 2 call(s) from {script}" in r.cmd(f"replay {script}")
    text = r.cmd("c")
    assert "TRNG_VERSION -> 0x0000000000010000" in text  # the script's answer
    assert "replay diverged at script entry 2 (line 2)" in text
    assert "expected  [vcpu?] ?#? TRNG_GET_UUID()" in text
    assert "actual    [vcpu0] hvc#0 TRNG_FEATURES(function_id=0x84000050)" in text
    assert "[ replay diverged: this call is yours: vCPU 0 ]" in text
    assert "not replaying" in r.cmd("replay")
    r.cmd("reply NOT_SUPPORTED")
    r.cmd("catch call trng")
    text = r.cmd("c")
    assert "TRNG_FEATURES(0x84000050) -> 0xffffffffffffffff" in text
    assert "Traceback" not in r.transcript


def test_replay_and_record_in_batch_mode(tmp_path: Path) -> None:
    script = tmp_path / "expect.calls"
    script.write_text(SCRIPT)
    rec = tmp_path / "rest.calls"
    r = run_hcdbg("--batch", "-ex", f"replay {script}", "-ex", "c", "-ex", f"record {rec}",
                  "-ex", "deny", "-ex", "c", "-ex", "record stop", "-ex", "record", "trng")
    assert r.returncode == 0, r.stdout[-2000:]
    assert "replay diverged at script entry 2 (line 2)" in r.stdout
    assert "TRNG_FEATURES(0x84000050) -> 0xffffffffffffffff" in r.stdout
    assert f"recording stopped: {rec}" in r.stdout and "not recording" in r.stdout
    lines = rec.read_text().splitlines()
    assert json.loads(lines[0])["hcdbg"] == 1
    calls = [json.loads(ln) for ln in lines[1:]]
    # numbered from 1 in the new script; the denied call is the first it holds
    assert (calls[0]["call"], calls[0]["name"], calls[0]["by"]) == (1, "TRNG_FEATURES", "deny")
    assert calls[-1]["name"] == "PSCI_SYSTEM_OFF"


def test_record_refuses_an_existing_file_at_the_prompt_too(tmp_path: Path) -> None:
    rec = tmp_path / "old.calls"
    rec.write_text("keep me\n")
    r = run_hcdbg("--batch", "-ex", f"record {rec}", "-ex", "record", "hello")
    assert r.returncode == 1
    assert "file exists, not overwriting it" in r.stderr and "not recording" in r.stdout
    assert rec.read_text() == "keep me\n"
    r = run_hcdbg("--batch", "-ex", f"record -f {rec}", "-ex", "c", "hello")
    assert r.returncode == 0 and "PSCI_SYSTEM_OFF" in rec.read_text()


def test_a_recording_started_mid_run_replays_from_its_first_call(tmp_path: Path) -> None:
    rec = tmp_path / "late.calls"
    r = run_hcdbg("--batch", "-ex", "filter add TRNG_GET_UUID forward", "-ex", "c",
                  "-ex", f"record {rec}", "-ex", "reply 0x1234", "-ex", "c", "trng")
    assert r.returncode == 0, r.stdout[-2000:]
    head = json.loads(rec.read_text().splitlines()[0])
    assert head["from_call"] == 7  # TRNG_VERSION and five TRNG_FEATURES came before
    again = run_hcdbg("replay", str(rec))
    assert again.returncode == 0, again.stderr
    assert "TRNG_GET_UUID -> 0x0000000000001234" in again.stdout


def test_back_rewinds_a_replay_to_where_it_was(tmp_path: Path) -> None:
    script = tmp_path / "expect.calls"
    script.write_text(SCRIPT)
    r = run_hcdbg("--batch", "-ex", f"replay {script}", "-ex", "c", "-ex", "back", "-ex", "replay",
                  "-ex", "c", "trng")
    assert r.returncode == 0, r.stdout[-2000:]
    # Back at the entry point the replay is active again, at its first entry, and the
    # guest diverges at the same place a second time.
    assert "replaying " + str(script) + ": 0 call(s) matched, 2 to go" in r.stdout
    assert r.stdout.count("replay diverged at script entry 2 (line 2)") == 2


def test_console_input_typed_at_the_prompt_is_recorded_and_typed_again(tmp_path: Path) -> None:
    rec = tmp_path / "echo.calls"
    r = run_hcdbg("--batch", "--record", str(rec), "-ex", r'uart send "hi there\n"', "-ex", "c", "echo")
    assert r.returncode == 0 and "echo: hi there" in r.stdout, r.stdout[-2000:]
    assert json.loads(rec.read_text().splitlines()[1]) == {"uart": "hi there\n"}
    again = run_hcdbg("replay", str(rec))
    assert again.returncode == 0, again.stderr
    assert again.stdout == "echo: hi there\nSYSTEM_OFF\n"
