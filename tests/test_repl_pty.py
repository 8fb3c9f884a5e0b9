"""The REPL in a real pseudo-terminal (pexpect): the prompt, answering calls by hand,
Ctrl-C while the guest runs and at the prompt, Ctrl-D, history, and the same session
through --batch -ex giving the same transcript."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
CPR_REQUEST = "\x1b[6n"
PSCI_TOUR = ["psci-tour"]  # the default guest, 4 vCPUs


def clean(text: str) -> str:
    return ANSI.sub("", text)


class Repl:
    """hcdbg in a pty. prompt_toolkit asks the terminal where the cursor is (CPR) before it
    draws each prompt; we answer like a terminal would, and a prompt counts as drawn only
    after its CPR request (a redraw of the line being accepted shows "(hcdbg)" too)."""

    def __init__(self, tmp_path: Path, *argv: str) -> None:
        env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=str(tmp_path / "state"))
        env.pop("NO_COLOR", None)
        self.child = pexpect.spawn(sys.executable, ["-m", "hcdbg", *argv], env=env, cwd=ROOT,
                                   encoding="utf-8", timeout=60, dimensions=(50, 160))
        self.transcript = ""
        self.raw = ""  # the last command's output with its escape sequences

    def _until(self, marker: str) -> str:
        seen_cpr = False
        text = ""
        while True:
            i = self.child.expect_exact([CPR_REQUEST, marker])
            text += self.child.before
            if i == 0:
                self.child.send("\x1b[50;1R")
                seen_cpr = True
                continue
            text += self.child.after
            if seen_cpr:
                break
        self.transcript += clean(text)
        self.raw = text
        return clean(text)

    def prompt(self) -> str:
        return self._until("(hcdbg)")

    def cmd(self, line: str, then: str = "(hcdbg)") -> str:
        self.child.sendline(line)
        return self._until(then)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def repl(tmp_path: Path):
    made: list[Repl] = []

    def start(*argv: str) -> Repl:
        r = Repl(tmp_path, *argv)
        made.append(r)
        return r

    yield start
    for r in made:
        r.close()


def test_answer_calls_by_hand_in_a_terminal(repl, tmp_path: Path) -> None:
    r = repl(*PSCI_TOUR, "--no-color")
    banner = r.prompt()
    assert "Type 'c' to run it" in banner and "4 vCPUs" in banner
    assert "filter entry 1: 0x84000000-0x8400001f (forward, both)" in r.cmd("filter add psci forward")
    text = r.cmd("c")
    assert "[ forwarded call: vCPU 0 ]" in text and "PSCI_VERSION" in text
    assert "function ID 0x84000000: fast, SMC32, OEN 4 (Standard Secure)" in text
    assert "built-in answer: 0x10001 (1.1)" in text
    assert "answer (reply) for PSCI_VERSION on vCPU 0: 0x10000 (1.0)" in r.cmd("reply 0x10000")
    text = r.cmd("c")
    assert "PSCI_VERSION -> 0x0000000000010000\n" in text  # the guest prints the answer given
    assert "PSCI_FEATURES" in text
    assert "answer (handle) for PSCI_FEATURES on vCPU 0: 0x0" in r.cmd("handle")
    assert "PSCI_FEATURES(0x84000000) -> 0x0000000000000000" in r.cmd("c")
    assert "Deleted 3 range(s)" in r.cmd("filter del")
    # c at a call with no answer asks once rather than guessing
    assert "has no answer yet" in r.cmd("c", then="(y or n)")
    text = r.cmd("y")
    assert "SYSTEM_OFF\n" in text and "[ powered off: vCPU 0 ]" in text
    assert "Traceback" not in r.transcript
    r.child.send("\x04")  # Ctrl-D: the guest cannot continue, so no question
    r.child.expect(pexpect.EOF)
    r.child.close()
    assert r.child.exitstatus == 0
    history = (tmp_path / "state" / "hcdbg" / "history").read_text()
    assert "filter add psci forward" in history and "reply 0x10000" in history
    # commands may hold secrets a shell's history would: only its owner reads it
    assert (tmp_path / "state" / "hcdbg" / "history").stat().st_mode & 0o777 == 0o600


def test_batch_gives_the_same_transcript(repl) -> None:
    r = repl(*PSCI_TOUR, "--no-color")
    r.prompt()
    lines = ("filter add psci forward", "c", "reply 0x10000", "c", "handle", "c", "deny", "c",
             "filter del", "handle", "c")
    for line in lines:
        r.cmd(line)
    batch = subprocess.run(
        [sys.executable, "-m", "hcdbg", *PSCI_TOUR, "--batch",
         *(arg for line in lines for arg in ("-ex", line))],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert batch.returncode == 0, batch.stdout + batch.stderr

    def important(text: str) -> list[str]:
        keep = re.compile(r"^(----\[|HVC #|  PSCI_|  function ID|  built-in answer|  w\d |"
                          r"answer \(|[A-Z_]+(\(0x[0-9a-f]+\))? -> |SYSTEM_OFF|cpu |CPU_OFF|"
                          r"guest powered off|\*\*\*)")
        return [line.rstrip() for line in text.splitlines() if keep.match(line)]

    interactive = important(r.transcript)
    assert interactive == important(batch.stdout)
    assert "PSCI_VERSION -> 0x0000000000010000" in interactive
    assert "PSCI_FEATURES(0x84000001) -> 0xffffffffffffffff" in interactive  # denied
    assert interactive[-1] == "guest powered off (PSCI_SYSTEM_OFF)"


def test_ctrl_c_stops_a_looping_guest_and_clears_the_line(repl, tmp_path: Path) -> None:
    guest = tmp_path / "loop.bin"
    guest.write_bytes((0x14000000).to_bytes(4, "little"))  # b . at 0x40080000
    r = repl(str(guest), "--load", "0x40080000", "--no-color")
    r.prompt()
    r.child.sendline("c")
    r.child.expect_exact("c")
    time.sleep(0.5)  # the guest is spinning
    t0 = time.monotonic()
    r.child.sendintr()
    r.child.expect_exact("[ interrupted: vCPU 0 ]")
    latency = time.monotonic() - t0
    text = r.prompt()
    assert latency < 0.2, latency
    assert "=> 0x40080000:\tb       #0x40080000" in text
    # Ctrl-C at the prompt throws the line away
    r.child.send("garbage")
    r.child.sendintr()
    r.prompt()
    text = r.cmd("info vcpus")
    assert "0x40080000" in text and "undefined command" not in text
    # Enter repeats stepi
    r.cmd("si")
    assert "[ step: vCPU 0 ]" in r.cmd("")
    # c again, Ctrl-C again: the run resumes and stops again
    r.child.sendline("c")
    time.sleep(0.3)
    r.child.sendintr()
    assert "[ interrupted" in r.prompt()
    # Ctrl-D while the guest could go on asks first; "n" keeps the session
    r.child.send("\x04")
    assert "Quit anyway?" in r._until("(y or n)")
    assert "(hcdbg)" in r.cmd("n")
    assert "Quit anyway?" in r.cmd("quit", then="(y or n)")
    r.child.sendline("y")
    r.child.expect(pexpect.EOF)
    r.child.close()
    assert r.child.exitstatus == 0


def test_colour_and_completion_in_a_terminal(repl) -> None:
    r = repl("hello", "--forward", "psci")
    r.prompt()
    r.child.send("filt\t")
    time.sleep(0.3)
    r.child.send("def\t")
    time.sleep(0.3)
    assert "default: deny" in r.cmd("deny")
    text = r.cmd("c")
    assert "\x1b[" in r.raw and "PSCI_SYSTEM_OFF" in text  # coloured when no --no-color
    r.child.sendline("q")
    r.child.expect_exact("(y or n)")
    r.child.sendline("y")
    r.child.expect(pexpect.EOF)


def test_catch_irq_and_info_gic_in_a_terminal(repl) -> None:
    # guests/timer.S: PPI 27 (virtual timer) enabled at GICC_PMR 0xF0; caught at the vector,
    # before GICC_IAR, so it is still pending (IHI 0048B §3.2.4).
    r = repl("timer", "--no-color")
    r.prompt()
    assert "stop at the IRQ vector when a vCPU takes IRQ PPI 27 (virtual timer)" in \
        r.cmd("catch irq 27")
    text = r.cmd("c")
    assert "IRQ 27 taken by vCPU 0 (caught; ELR_EL1 is where it interrupted)" in text
    text = r.cmd("info gic")
    assert "vCPU 0: CPU interface enabled (group 0), GICC_CTLR 0x1, PMR 0xf0" in text
    assert "pending  PPI 27 (virtual timer)" in text and "IRQ line up" in text
    assert "*** bad INTID '1020'" in r.cmd("catch irq 1020")
    assert "Traceback" not in r.transcript
    r.child.sendline("q")
    r.child.expect_exact("(y or n)")
    r.child.sendline("y")
    r.child.expect(pexpect.EOF)
