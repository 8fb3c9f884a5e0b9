"""LLDB (Debian's `lldb`, its gdb-remote client) against hcdbg's gdb stub: the same target
description, threads, breakpoints and forwarded calls serve it too. scripts/test installs
lldb where it can (as root with apt-get); the test skips without it."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import GUESTS
from gdb_client import finish, start

LLDB = shutil.which("lldb")


@pytest.mark.skipif(LLDB is None, reason="lldb not installed")
def test_lldb_breaks_in_main_and_stops_at_a_forwarded_call(tmp_path: Path) -> None:
    proc, port = start("trace", "--gdb", "0", "psci-tour")
    try:
        # lldb --batch runs -o commands until the process stops on a signal, then the -k
        # ("on crash") ones: the forwarded call is that signal (SIGTRAP).
        args = [LLDB, "--no-lldbinit", "--batch", "-o", f"target create {GUESTS / 'psci-tour.elf'}",
                "-o", f"gdb-remote 127.0.0.1:{port}", "-o", "breakpoint set -n main",
                "-o", "continue", "-o", "thread list", "-o", "bt",
                "-o", "process plugin packet monitor filter add PSCI_VERSION forward",
                "-o", "continue",
                "-k", "register read x0", "-k", "process plugin packet monitor reply 0x10000",
                "-k", "continue"]
        run = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        out = run.stdout + run.stderr
        status, stdout, _ = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stop reason = breakpoint 1.1" in out, out
    assert re.search(r"frame #0: 0x[0-9a-f]+ psci-tour\.elf`main at psci-tour\.S:\d+", out)
    assert re.search(r"frame #1: 0x[0-9a-f]+ psci-tour\.elf`_start at common\.S:\d+", out)
    assert re.findall(r"thread #(\d): tid = 0x000(\d)", out) == [(str(n), str(n)) for n in (1, 2, 3, 4)]
    assert "stop reason = signal SIGTRAP" in out
    assert "x0 = 0x0000000084000000" in out  # PSCI_VERSION's function ID (DEN0022)
    assert "exited with status = 0" in out
    assert stdout.splitlines()[0] == "PSCI_VERSION -> 0x0000000000010000" and status == 0
