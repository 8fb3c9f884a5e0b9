"""The REPL's `timeline` through --batch: a window of calls keeps the states the calls before
it left, the page holds one mark per call, and bad arguments fail with the usage."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _batch(*commands: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hcdbg", "cpu-race", "--deterministic", "--batch",
                           *(a for c in commands for a in ("-ex", c))],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_window_page_and_errors(tmp_path: Path) -> None:
    page = tmp_path / "race.html"
    done = _batch("timeline", "c", "timeline 4-6 --width 80", f"timeline --html {page}",
                  "timeline 9-")
    out = done.stdout
    assert "No calls yet." in out  # before the guest ran
    window = out[out.index("#4"):]
    lanes = {int(m[1]): m[2] for m in re.finditer(r"^vCPU (\d) (.*)$", window, re.M)}
    # cpu-race: vCPU 0's CPU_ONs #1-#3 started 1, 2 and 3: all four are on when #4 is made.
    assert all(lanes[v].startswith("─") for v in range(4)), lanes
    assert "ON(3) ALREADY_ON" in lanes[1] and "OFF" in lanes[1]
    assert "wrote the timeline of 12 calls on 4 vCPUs" in out
    assert page.read_text().count('class="mark') == 12
    assert "*** bad call numbers '9-'" in done.stderr
    assert done.returncode == 1  # one command failed


def test_a_recording_draws_as_the_run_did(tmp_path: Path) -> None:
    """`hcdbg timeline GUEST --record FILE` then `hcdbg timeline FILE`: the script gives the
    same picture (states, arrows from its CpuOn effects, the SYSTEM_OFF bar) without a run."""
    script = tmp_path / "race.calls"

    def draw(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hcdbg", "timeline", *argv, "--width", "130"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ran = draw("cpu-race", "--record", str(script))
    assert script.read_text().count('"effect": "CpuOn"') == 3
    assert draw(str(script)) == ran
    lines = ran.splitlines()
    drawing = "\n".join(lines[:next(i for i, ln in enumerate(lines) if ln.startswith("vCPU 3")) + 1])
    assert ran.count("ON(3) ALREADY_ON") == 2 and drawing.count("▼") == 3  # the legend not counted
