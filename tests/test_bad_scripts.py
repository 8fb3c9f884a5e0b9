"""Issue 14: call scripts and command files that are malformed in odd ways (deep nesting,
huge integers, wrongly typed header fields, values outside 64 bits, no final newline, not
UTF-8, endless) are one error naming the file, never an internal error or a silent change."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_hcdbg
from hcdbg.session import callscript
from hcdbg.errors import UsageError
from test_bad_outputs import _one_line
from test_repl_commands import make, run

CALL = '{"name": "PSCI_VERSION"}'


def _parse(text: str) -> callscript.Script:
    return callscript.parse_text(text, Path("s.calls"))


@pytest.mark.parametrize("text, needle", [
    ("[" * 1000 + "]" * 1000 + "\n", "s.calls:1"),
    ('{"fid": ' + "1" * 5000 + "}\n", "s.calls:1"),
    ('{"name": "PSCI_VERSION", "answer": {"x0": ' + str(2 ** 70) + "}}\n", "64-bit"),
    ('{"name": "PSCI_VERSION", "answer": ' + str(-2 ** 63 - 1) + "}\n", "64-bit"),
    ('{"name": "PSCI_FEATURES", "args": {"x1": ' + str(2 ** 64) + "}}\n", "64-bit"),
    ('{"hcdbg": 1, "guest": {"sha256": 1}}\n', "guest.sha256"),
    ('{"hcdbg": 1, "guest": {"path": ["x"]}}\n', "guest.path"),
    ('{"hcdbg": 1, "machine": {"catch": [["svc"]]}}\n', "machine.catch"),
    ('{"hcdbg": 1, "machine": {"append": 1}}\n', "machine.append"),
    ('{"hcdbg": 1, "machine": {"mem": null}}\n', "machine.mem"),  # found by test_input_fuzz
    ('{"hcdbg": 1, "firmware": {"profile": null}}\n', "firmware.profile"),
    ('{"hcdbg": 1, "machine": {"entry": 18446744073709551616}}\n', "machine.entry"),
    (CALL + "\n" + '{"name": "PSCI_VERS', "s.calls:2"),
], ids=["nested", "huge-int", "answer-2**70", "answer-below-2**63", "arg-2**64", "sha256-int",
        "path-list", "catch-nested", "append-int", "mem-null", "profile-null", "entry-2**64", "last-line-cut"])
def test_bad_script_is_a_script_error(text: str, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        script = _parse(text)
        from hcdbg.cli.options import Options
        Options().with_header(script.header)
    assert needle in str(info.value)


def test_last_line_without_newline_is_kept() -> None:
    assert len(_parse(CALL + "\n" + CALL).entries) == 2


def test_a_line_separator_inside_a_string_does_not_split_the_line() -> None:
    script = _parse('{"name": "PSCI_VERSION", "why": "a\u2028b"}\n')
    assert len(script.entries) == 1


def test_answers_at_the_64_bit_edges_are_taken() -> None:
    script = _parse('{"name": "PSCI_VERSION", "answer": {"x0": -9223372036854775808, "x1": 18446744073709551615}}\n')
    assert script.entries[0].answer == {0: 1 << 63, 1: (1 << 64) - 1}


def test_nested_script_at_the_command_line_and_the_prompt(tmp_path: Path) -> None:
    bad = tmp_path / "deep.calls"
    bad.write_text("[" * 100000 + "]" * 100000 + "\n")
    _one_line(run_hcdbg("replay", str(bad)), "deep.calls:1")
    _one_line(run_hcdbg("hello", "--batch", "--replay", str(bad)), "deep.calls:1")
    dbg, out = make("hello")
    assert "deep.calls:1" in run(dbg, out, f"replay {bad}", ok=False)


def _batch_error(result, *needles: str) -> None:
    """A -x file that cannot be read fails as any batch command does: `***`, exit 1."""
    assert result.returncode == 1 and "internal error" not in result.stdout + result.stderr, result
    line = next(ln for ln in result.stdout.splitlines() + result.stderr.splitlines() if ln.startswith("***"))
    assert all(n in line for n in needles), line


def test_endless_script_is_refused(tmp_path: Path) -> None:
    _one_line(run_hcdbg("replay", "/dev/zero"), "/dev/zero", "not a regular file")
    _batch_error(run_hcdbg("hello", "--batch", "-x", "/dev/zero"), "/dev/zero", "not a regular file")


def test_command_file_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "cmds.x"
    bad.write_bytes(b"help\n\xff\n")
    _batch_error(run_hcdbg("hello", "--batch", "-x", str(bad)), "cmds.x", "UTF-8")


def test_header_append_that_is_not_text(tmp_path: Path) -> None:
    script = tmp_path / "s.calls"
    script.write_text(json.dumps({"hcdbg": 1, "guest": {"name": "hello"}, "machine": {"append": "\ud800"}}) + "\n")
    _one_line(run_hcdbg("replay", str(script)), "--append")
