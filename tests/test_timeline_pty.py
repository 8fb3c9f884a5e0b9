"""The timeline in a real terminal (pexpect, 80 and 160 columns): the REPL's `timeline` and
`hcdbg timeline GUEST` fit the width, in colour, and a pipe gets plain text.

cpu-race: CPUs 0, 1 and 2 all CPU_ON CPU 3, which is already on by the time 1 and 2 try,
so theirs return ALREADY_ON (-4, DEN0022D.b §5.6); vCPU 0 started 1, 2 and 3."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
CPR_REQUEST = "\x1b[6n"


def _spawn(tmp_path: Path, columns: int, *argv: str) -> pexpect.spawn:
    env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=str(tmp_path / "state"))
    for name in ("NO_COLOR", "COLUMNS", "LINES"):
        env.pop(name, None)
    return pexpect.spawn(sys.executable, ["-m", "hcdbg", *argv], env=env, cwd=ROOT,
                         encoding="utf-8", timeout=120, dimensions=(50, columns))


def _until_prompt(child: pexpect.spawn) -> str:
    """Output up to the next prompt; prompt_toolkit asks where the cursor is (CPR) before it
    draws a prompt, and we answer as a terminal would."""
    text = ""
    seen_cpr = False
    while True:
        i = child.expect_exact([CPR_REQUEST, "(hcdbg)"])
        text += child.before
        if i == 0:
            child.send("\x1b[50;1R")
            seen_cpr = True
            continue
        if seen_cpr:
            return text
        text += child.after


def _picture(text: str) -> list[str]:
    lines = ANSI.sub("", text).split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("vCPU 0") or line.lstrip().startswith("#1"))
    return lines[start:]


@pytest.mark.parametrize("columns", [80, 160])
def test_repl_timeline_fits_the_terminal(tmp_path: Path, columns: int) -> None:
    child = _spawn(tmp_path, columns, "cpu-race", "--deterministic")
    try:
        _until_prompt(child)
        child.sendline("c")
        assert "powered off" in ANSI.sub("", _until_prompt(child))
        child.sendline("timeline")
        raw = _until_prompt(child)
        child.sendline("quit")
    finally:
        child.terminate(force=True)
    assert "\x1b[" in raw.split("timeline", 1)[1]  # drawn in colour on a terminal
    lines = _picture(raw.split("timeline", 1)[1])
    lines = lines[:-1]  # the prompt's line
    assert lines and all(len(line) <= columns for line in lines), [ln for ln in lines if len(ln) > columns]
    lanes = [line for line in lines if re.match(r"vCPU \d ", line)]
    assert [line.split()[1] for line in lanes] == ["0", "1", "2", "3"]
    body = "\n".join(lines)
    if columns == 160:  # room for every label
        assert body.count("ON(3) ALREADY_ON") == 2 and body.count("ON(3) ok") == 1
        assert lanes[0].count("ON(1) ok") == 1 and lanes[0].count("ON(2) ok") == 1
    else:  # glyphs: +3 a CPU_ON of vCPU 3, ! refused
        assert body.count("+3!") == 2
        assert lanes[0].count("+3") == 1
    drawing = lines[:lines.index(lanes[-1]) + 1]  # not the legend under it
    assert "".join(drawing).count("▼") == 3  # vCPU 0 started 1, 2 and 3


@pytest.mark.parametrize("columns", [80, 160])
def test_hcdbg_timeline_fits_the_terminal(tmp_path: Path, columns: int) -> None:
    child = _spawn(tmp_path, columns, "timeline", "psci-tour")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    lines = ANSI.sub("", child.before).split("\n")
    assert all(len(line) <= columns for line in lines), [ln for ln in lines if len(ln) > columns]
    lanes = [line for line in lines if re.match(r"vCPU \d ", line)]
    assert len(lanes) == 4  # psci-tour runs on 4 vCPUs
    assert "\x1b[" in child.before


def test_a_pipe_gets_plain_text_80_columns_wide() -> None:
    done = subprocess.run([sys.executable, "-m", "hcdbg", "timeline", "cpu-race"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "COLUMNS"})
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    lines = done.stdout.splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
    assert sum(line.count("+3!") for line in lines) == 2


def test_time_in_instructions_shows_the_long_suspend() -> None:
    """cpu-suspend: CPU 1 suspends and CPU 0 wakes it with an SGI only after a long loop
    (guests/cpu-suspend.S), so in instructions CPU 1's lane is mostly suspended (~), while in
    call order the suspend is one column between two calls."""
    def lane1(*extra: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hcdbg", "timeline", "cpu-suspend", "--width", "100",
                               *extra], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert all(len(line) <= 100 for line in done.stdout.splitlines())
        return next(line for line in done.stdout.splitlines() if line.startswith("vCPU 1"))[8:]
    by_insns = lane1("--time", "insns")
    assert by_insns.count("~") > len(by_insns) // 2
    assert lane1().count("~") <= 2
    refused = subprocess.run([sys.executable, "-m", "hcdbg", "timeline", str(ROOT / "guests" / "trng.calls"),
                              "--time", "insns"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "records no instruction counts" in refused.stderr
