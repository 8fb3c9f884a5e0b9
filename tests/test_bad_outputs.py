"""Issue 14: output files hcdbg cannot open or write (a missing directory, a directory,
a full disk, /proc/self/mem) are one `hcdbg:` line and exit 2, never an internal error."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_hcdbg


def _one_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("hcdbg:")]
    assert len(lines) == 1 and "internal error" not in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    for needle in needles:
        assert needle in lines[0], result.stderr


@pytest.mark.parametrize("args", [
    ["trace", "hello", "-o", "/proc/x"],
    ["trace", "hello", "-o", "/tmp"],
    ["trace", "hello", "-o", "/dev/full"],
    ["trace", "hello", "--record", "/dev/full", "--overwrite"],
    ["trace", "hello", "--record", "/proc/self/mem", "--overwrite"],
    ["trace", "hello", "--record", "/proc/x/y"],
    ["hello", "--batch", "--record", "/dev/full", "--overwrite", "-ex", "c"],
], ids=["o-missing-dir", "o-dir", "o-full", "record-full", "record-mem", "record-missing-dir", "repl-record-full"])
def test_output_that_cannot_be_written(args: list[str]) -> None:
    _one_line(run_hcdbg(*args, timeout=60), "cannot write")


def test_replay_output_that_cannot_be_written(tmp_path: Path) -> None:
    script = tmp_path / "s.calls"
    assert run_hcdbg("trace", "hello", "--record", str(script)).returncode == 0
    _one_line(run_hcdbg("replay", str(script), "-o", str(tmp_path)), "cannot write")


def test_stdout_to_a_full_disk() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "hcdbg", "trace", "hello"], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, timeout=60)
    _one_line(r, "cannot write")


def test_ctrl_c_while_an_internal_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C inside the error handler ends as Ctrl-C does (130), not with a traceback."""
    from hcdbg.cli import main as cli_main

    def broken(_command: object) -> None:
        raise RuntimeError("a bug")

    def interrupted(*_lines: str, **_kw: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "run", broken)
    monkeypatch.setattr(cli_main, "say", interrupted)
    assert cli_main.main(["trace", "hello"]) == 130
