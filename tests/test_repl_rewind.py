"""`back` at the prompt, in a real pseudo-terminal and in batch mode: answer PSCI_VERSION,
run to the next stop, go back, answer it differently; the guest prints the second answer."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pexpect

from test_repl_pty import ROOT, Repl

FIRST = "PSCI_VERSION -> 0x0000000000010000"  # psci-tour prints the version it was told
SECOND = "PSCI_VERSION -> 0x0000000000010001"
SETUP = ("filter add PSCI_VERSION forward", "filter add PSCI_FEATURES forward")


def test_back_in_a_terminal_then_answer_differently(tmp_path: Path) -> None:
    r = Repl(tmp_path, "psci-tour", "--no-color")
    try:
        r.prompt()
        for line in SETUP:
            r.cmd(line)
        assert "PSCI_VERSION" in r.cmd("c")
        r.cmd("reply 0x10000")
        text = r.cmd("c")
        assert FIRST in text and "PSCI_FEATURES" in text and "[ forwarded call: vCPU 0 ]" in text
        text = r.cmd("back")
        assert "back at checkpoint 1 -- vCPU 0 at 0x4008021c <main+0x28>, PSCI_VERSION" in text
        assert "1 call undone" in text
        assert "answer: none yet" in text  # the call is pending again, unanswered
        assert "(no UART output yet)" in r.cmd("uart")  # the output after it is gone
        text = r.cmd("checkpoints")
        assert "*   1  0" in text and "PSCI_VERSION (forwarded)" in text and "   2 " not in text
        assert "answer (reply) for PSCI_VERSION on vCPU 0: 0x10001 (1.1)" in r.cmd("reply 0x10001")
        text = r.cmd("c")
        assert SECOND in text and FIRST not in text
        text = r.cmd("uart")
        assert SECOND in text and FIRST not in text
        assert "*** cannot go back 9: only 2 earlier checkpoints (from 0)" in r.cmd("back 9")
        assert "Traceback" not in r.transcript
        r.child.sendline("quit")
        r.child.expect_exact("(y or n)")
        r.child.sendline("y")
        r.child.expect(pexpect.EOF)
    finally:
        r.close()


def test_back_in_batch_mode() -> None:
    lines = (*SETUP, "c", "reply 0x10000", "c", "back", "reply 0x10001", "filter del", "c",
             "uart", "back 2", "checkpoints", "rc")
    out = subprocess.run(
        [sys.executable, "-m", "hcdbg", "psci-tour", "--batch",
         *(arg for line in lines for arg in ("-ex", line))],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    text = out.stdout
    assert out.returncode == 1, text + out.stderr  # the last `rc` has nowhere to go
    first_uart = text.index("back at checkpoint 1")
    assert FIRST in text[:first_uart] and FIRST not in text[first_uart:]
    assert SECOND in text[first_uart:] and "guest powered off (PSCI_SYSTEM_OFF)" in text
    assert "back at checkpoint 0 -- vCPU 0 at 0x40080000 <_start>, entry point" in text
    assert out.stderr.rstrip().endswith(  # --batch: errors on stderr
        "*** nothing to go back to: checkpoint 0 is the earliest (every stop shown at the "
        "prompt adds one)")
    assert "Traceback" not in text + out.stderr
