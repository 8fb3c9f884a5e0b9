"""Issue 14, the REPL's part: a rejected command changes nothing, filter entries keep their
numbers, output that misled (long values, slow x/s and calls, errors on stdout in --batch,
record's errors and seed, misaligned disassembly, doubled words, the history file's mode),
and what a new user trips on (uart send escapes)."""
from __future__ import annotations

import io
import json
from pathlib import Path

from conftest import run_hcdbg

from hcdbg.cli.launch import build_session
from hcdbg.cli.parse import repl_options
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger
from hcdbg.smccc.call import Answer


class Session:
    """A REPL without a terminal: `run(line)` gives what the line printed."""

    def __init__(self, *argv: str) -> None:
        self.out = io.StringIO()
        console = Console(self.out, color=False)
        self.dbg = Debugger(build_session(repl_options(list(argv)), console.uart), console)

    def run(self, line: str) -> str:
        start = self.out.tell()
        self.dbg.onecmd(line)
        return self.out.getvalue()[start:]


# --- record --------------------------------------------------------------------------------

def test_a_refused_record_keeps_the_recording_that_runs(tmp_path: Path) -> None:
    first, taken = tmp_path / "first.calls", tmp_path / "taken.calls"
    taken.write_text("keep me\n")
    s = Session("psci-tour")
    s.run(f"record {first}")
    assert "file exists" in s.run(f"record {taken}")
    assert f"recording to {first}" in s.run("record")
    s.run("c")
    assert "PSCI_SYSTEM_OFF" in first.read_text()
    assert taken.read_text() == "keep me\n"


def test_record_of_a_directory_says_so_and_f_does_not_help(tmp_path: Path) -> None:
    s = Session("hello")
    for line in (f"record {tmp_path}", f"record -f {tmp_path}"):
        text = s.run(line)
        assert text.startswith(f"*** {tmp_path}: is a directory"), text
        assert "file exists" not in text and "-f" not in text


def test_record_at_the_prompt_writes_a_seed_and_its_replay_repeats_the_trng(tmp_path: Path) -> None:
    rec = tmp_path / "trng.calls"
    s = Session("trng")
    s.run(f"record {rec}")
    s.run("c")
    head = json.loads(rec.read_text().splitlines()[0])
    seed = head["firmware"]["seed"]
    assert isinstance(seed, int)
    # the seed is the one the run used: a run seeded with it prints the same random numbers
    again = run_hcdbg("trace", "trng", "--seed", str(seed))
    assert again.returncode == 0, again.stderr
    assert s.dbg.session.machine.uart.output.decode() == again.stdout


# --- filter entry numbers ------------------------------------------------------------------

def test_filter_entries_keep_their_numbers_as_gdb_breakpoints_do() -> None:
    s = Session("psci-tour")
    s.run("filter add psci forward")  # entries 1, 2, 3
    s.run("filter add trng deny")  # entries 4, 5: listed between psci's by base
    assert "Deleted 0x84000000-0x8400001f" in s.run("filter del 1")
    # entry 2 is still psci's second range, not what used to be listed second
    assert "Deleted 0x95c1ba5e-0x95c1ba61" in s.run("filter del 2")
    listing = s.run("filter list")
    assert [ln.split()[0] for ln in listing.splitlines()[1:-1]] == ["4", "3", "5"]
    assert s.run("filter del 1").startswith("*** no filter entry 1 (entries: 3, 4, 5)")
    assert "filter entry 6:" in s.run("filter add PSCI_VERSION forward")  # 1 is not reused
    assert "overlaps filter entry 6" in s.run("filter add 0x84000000+2 deny")


def test_filter_del_n_m_deletes_entries_all_or_none() -> None:
    s = Session("psci-tour")
    s.run("filter add psci forward")
    s.run("filter add trng deny")
    assert s.run("filter del 4-6").startswith("*** no filter entry 6")
    assert len(s.dbg.session.filter.entries()) == 5
    text = s.run("filter del 1-2")
    assert text.count("Deleted") == 2 and "psci" in text and "trng" not in text
    assert [n for n, _ in s.dbg.session.filter.numbered()] == [4, 3, 5]
    assert "Deleted" in s.run("filter del 0x84000050-0x84000053")  # hex: function IDs


def test_catch_and_export_name_entries_by_their_numbers() -> None:
    s = Session("psci-tour")
    s.run("filter add psci forward")
    s.run("filter add 0x1+1 forward smc")
    s.run("filter del 1")
    assert "(filter entry 5)" in s.run("catch hvc 0x2+1")
    info = s.run("info catch")
    assert "filter entry 5: 0x00000002" in info and "filter entry 4: 0x00000001" in info
    assert "entry 4 0x00000001-0x00000001 (forward, smc) not exported" in s.run("filter export")


# --- errors: where they go, how long they are ----------------------------------------------

def test_batch_errors_go_to_stderr_and_output_to_stdout() -> None:
    r = run_hcdbg("--batch", "-ex", "echo before", "-ex", "bogus", "-ex", "x/4q $sp",
                  "-ex", "echo after", "hello")
    assert r.returncode == 1
    assert "***" not in r.stdout and "before\nafter\n" in r.stdout
    err = r.stderr.splitlines()
    assert err[0].startswith('*** undefined command: "bogus"')
    assert err[1].startswith("*** bad format letter 'q'") and len(err) == 2


def test_argparse_errors_are_one_line_with_a_pointer_to_help() -> None:
    for argv, prog in ((["--bogus"], "hcdbg"), (["trace", "--smp", "x"], "hcdbg trace"),
                       (["replay"], "hcdbg replay")):
        r = run_hcdbg(*argv)
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "usage:" not in r.stderr, r.stderr
        assert r.stderr.startswith("hcdbg: ") and f"(see '{prog} --help')" in r.stderr


def test_a_long_value_in_an_error_is_cut() -> None:
    s = Session("hello")
    name = "q" * 100_000
    for line in (f"b {name}", f"filter add {name} forward", f"explain {name}",
                 f"x/{name}", "b " + " ".join(["zz"] * 100_000)):
        text = s.run(line)
        assert text.startswith("*** ") and text.count("\n") <= 2, text[:200]
        assert len(text) < 2000, (line[:20], len(text))
    r = run_hcdbg("trace", "--forward", "q" * 100_000)
    assert r.returncode == 2 and len(r.stderr) < 2000 and "characters)" in r.stderr


def test_a_long_line_splits_in_linear_time() -> None:
    """shlex took 83 s to split `b` and a 1 MB word; the guard is generous (a watchdog)."""
    import time
    s = Session("hello")
    start = time.monotonic()
    assert s.run("b " + "q" * 1_000_000).startswith("*** ")
    assert time.monotonic() - start < 30


# --- x/s, disassembly, uart send -----------------------------------------------------------

def test_x_s_reads_memory_in_chunks_not_byte_by_byte() -> None:
    from hcdbg.machine.loader import Symbols
    from hcdbg.repl.examine import Format, examine

    reads = []

    def read(at: int, size: int) -> bytes:  # 16 MiB with no NUL
        reads.append(size)
        if not 0 <= at or at + size > 1 << 24:
            from hcdbg.errors import UsageError
            raise UsageError(f"cannot access memory at {at:#x}: not mapped")
        return b"A" * size

    lines, after = examine(read, 0x10, Format(64, "s", 1), Symbols())
    assert len(lines) == 64 and lines[0].endswith('AAAA"...') and after == 0x10 + 64 * 4096
    assert len(reads) <= 64 * 17  # about 4096 / 256 reads a string, not 4096


def test_x_s_stops_at_the_nul_and_at_the_end_of_memory() -> None:
    s = Session("hello")
    machine = s.dbg.session.machine
    end = 0x4000_0000 + machine.config.ram_size
    machine.write_memory(end - 5, b"tail")
    assert s.run(f"x/s {end - 5}") == f'{end - 5:#x}:\t"tail"\n'
    machine.write_memory(end - 4, b"abc\x01")
    text = s.run(f"x/s {end - 4}")
    assert text.startswith("*** cannot access memory at") and "0x48000000" in text


def test_disas_and_x_i_agree_on_a_misaligned_address() -> None:
    s = Session("hello")
    want = ("*** no instruction starts at 0x40080002: A64 instructions are 4 bytes long and "
            "4-byte aligned (the one holding it is at 0x40080000)\n")
    assert s.run("disas 0x40080002") == want
    assert s.run("x/2i 0x40080002") == want


def test_uart_send_takes_escapes_quoted_or_not_and_says_what_it_queued() -> None:
    s = Session("echo")
    rx = s.dbg.session.machine.uart.rx
    assert s.run(r"uart send \nreset\n").endswith(r'(7 waiting): "\nreset\n"' + "\n")
    assert s.run(r'uart send "\nreset\n"').endswith(r'(14 waiting): "\nreset\n"' + "\n")
    assert s.run(r"uart send a\ b\\x41").endswith('"a bA"\n')
    assert bytes(rx) == b"\nreset\n\nreset\na bA"


# --- calls on a long history ---------------------------------------------------------------

def test_calls_shows_the_latest_hundred_and_says_how_to_see_the_rest() -> None:
    s = Session("hello")
    s.run("c")
    session = s.dbg.session
    one = session.history[-1]
    session.history.clear()
    answer = Answer(one.answer, one.effect, one.why)
    for _ in range(300_000):
        session.history.add(one.trap, one.source, answer)
    lines = s.run("calls").splitlines()
    assert len(lines) == 101 and lines[0].startswith("#299901") and lines[99].startswith("#300000")
    assert lines[100] == ("(299900 earlier not shown: 'calls 1-299900' lists them, "
                          "'calls all' every one)")
    assert [ln.split()[0] for ln in s.run("calls 5-7").splitlines()[:3]] == ["#5", "#6", "#7"]
    assert s.run("calls #42").startswith("#42 ")
    assert s.run("calls PSCI_SYSTEM_OFF 10-11").splitlines()[-1] == "(2 of 300000 calls)"
    assert s.run("calls 7-5").startswith("*** bad call numbers '7-5'")
    assert s.run("calls " + "1" * 5000).startswith("*** bad filter")  # not int()'s ValueError
    del session.history[150:]
    assert len(s.run("calls all").splitlines()) == 150
    assert len(s.run("calls psci all").splitlines()) == 151


# --- the history file ----------------------------------------------------------------------

def test_the_history_file_is_made_0600_like_a_shells(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from hcdbg.repl.app import _prompt_loop

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    s = Session("hello")
    with create_pipe_input() as pipe:
        pipe.send_text("info vcpus\r\x04")
        _prompt_loop(s.dbg, color=False, pt_input=pipe, pt_output=DummyOutput())
    path = tmp_path / "hcdbg" / "history"
    assert "info vcpus" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600


# --- set-up ----------------------------------------------------------------------------------

def test_fetch_guests_says_it_adds_the_arm64_architecture(tmp_path: Path) -> None:
    """With stand-ins for dpkg, apt-get and apt-cache (nothing is installed or changed)."""
    import os
    import subprocess

    from conftest import ROOT

    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("dpkg", "apt-get", "apt-cache"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n')
        (bin_dir / tool).chmod(0o755)
    uboot = tmp_path / "cache" / "hcdbg" / "u-boot"
    uboot.mkdir(parents=True)
    for name in ("u-boot.bin", "uboot.elf"):
        (uboot / name).write_bytes(b"x")  # present: only the kernel is fetched
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run([str(ROOT / "scripts" / "fetch-guests")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert "dpkg --add-architecture arm64" in log.read_text()
    assert "running 'dpkg --add-architecture arm64'" in r.stderr
    assert "a lasting change to this machine" in r.stderr


def test_the_readme_starts_with_two_set_up_commands_and_says_what_they_need() -> None:
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    first = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [ln for ln in first.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2, commands
    assert "hcdbg --version" not in first
    assert "pip install" in commands[0] and "hcdbg" in commands[0].split("&&")[-1]
    assert commands[1].startswith("scripts/test")
    head = readme.split("## The REPL", 1)[0]
    for need in ("externally-managed-environment", "venv", "pylibfdt", "C compiler",
                 "python3-dev", "dpkg --add-architecture arm64"):
        assert need in head, need


def test_delete_of_a_number_twice_deletes_it_once_and_succeeds() -> None:
    """Found by the fuzzer: `d 4 4` deleted breakpoint 4, then failed on the second 4."""
    s = Session("hello")
    s.run("b main")
    s.run("b _start")
    assert s.dbg.onecmd("d 1 1")
    assert [b.number for b in s.dbg.session.breakpoints] == [2]
    assert not s.dbg.onecmd("d 2 3") and [b.number for b in s.dbg.session.breakpoints] == [2]


def test_help_of_a_word_that_is_no_subcommand_fails() -> None:
    """Found by the fuzzer: `help handle main main` printed handle's help and succeeded."""
    s = Session("hello")
    assert s.run("help handle main") == ('*** undefined handle command: "main".  '
                                        'Try "help handle".\n')
    assert s.run("help info registers").startswith("usage: info registers")
    assert s.run("help filter add").startswith("usage: filter add")
