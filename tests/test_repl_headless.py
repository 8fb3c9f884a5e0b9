"""The prompt_toolkit loop without a terminal (create_pipe_input + DummyOutput): typed-ahead
lines, Ctrl-C on a half-typed line, a failing command, Ctrl-D with its question, history."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from hcdbg.cli.launch import build_session
from hcdbg.cli.parse import repl_options
from hcdbg.repl.app import _prompt_loop
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger


def session(*argv: str, answers: list[bool]) -> tuple[Debugger, io.StringIO, list[str]]:
    args = repl_options(list(argv))
    out = io.StringIO()
    console = Console(out, color=False)
    asked: list[str] = []

    def ask(question: str) -> bool:
        asked.append(question)
        return answers.pop(0)

    return Debugger(build_session(args, console.uart), console, ask=ask), out, asked


def test_prompt_loop_runs_typed_lines_until_ctrl_d(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    dbg, out, asked = session("hello", "--forward", "psci", answers=[False, True])
    keys = ("filter list\r"
            "half-typed line\x03"        # Ctrl-C throws the line away
            "bogus command\r"            # fails, the loop goes on
            "c\r"
            "reply 0\r"
            "\x04"                       # Ctrl-D: the guest can go on, so it asks: no
            "info vcpus\r"
            "\x04")                      # asks again: yes
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        _prompt_loop(dbg, color=False, pt_input=pipe, pt_output=DummyOutput())
    text = out.getvalue()
    assert "forward  both     psci" in text
    assert '*** undefined command: "bogus"' in text and "half-typed" not in text
    assert "[ forwarded call: vCPU 0 ]" in text and "PSCI_SYSTEM_OFF" in text
    assert "answer (reply) for PSCI_SYSTEM_OFF on vCPU 0: 0 SUCCESS" in text
    assert "* 0" in text and text.rstrip().endswith("quit")
    assert len(asked) == 2 and all("Quit anyway?" in q for q in asked)
    history = (tmp_path / "hcdbg" / "history").read_text()
    assert "reply 0" in history and "half-typed" not in history


def test_enter_repeats_at_the_prompt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    dbg, out, _ = session("hello", answers=[True])
    start = dbg.vcpu.pc
    with create_pipe_input() as pipe:
        pipe.send_text("si\r\r\r\x04")
        _prompt_loop(dbg, color=False, pt_input=pipe, pt_output=DummyOutput())
    assert dbg.vcpu.pc == start + 12
    assert out.getvalue().count("[ step: vCPU 0 ]") == 3
