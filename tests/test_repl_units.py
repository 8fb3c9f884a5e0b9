"""Unit tests of the REPL's pure parts: x/ formats, reply parsing, values, command lookup,
Enter-repeats, completion and the toolbar."""
from __future__ import annotations

import io

import pytest
from prompt_toolkit.document import Document

from hcdbg.cli.launch import build_session
from hcdbg.cli.parse import repl_options
from hcdbg.errors import UsageError
from hcdbg.machine.loader import Symbols
from hcdbg.repl import commands as K
from hcdbg.repl.app import history_path, toolbar
from hcdbg.repl.completer import CommandCompleter
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger
from hcdbg.repl.examine import Format, examine, parse_format
from hcdbg.repl.expressions import evaluate
from hcdbg.values import register_list


def make(*argv: str) -> tuple[Debugger, io.StringIO]:
    args = repl_options(list(argv))
    out = io.StringIO()
    console = Console(out, color=False)
    return Debugger(build_session(args, console.uart), console, max_insns=args.max_insns), out


# --- x/NFU ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("/4xg", Format(4, "x", 8)),
    ("/x", Format(1, "x", 4)),
    ("/gx", Format(1, "x", 8)),
    ("/8cb", Format(8, "c", 1)),
    ("/c", Format(1, "c", 1)),
    ("/2s", Format(2, "s", 1)),
    ("/3i", Format(3, "i", 4)),
    ("/d", Format(1, "d", 4)),
    ("/10uh", Format(10, "u", 2)),
    ("/a", Format(1, "a", 8)),
])
def test_parse_format(text: str, expected: Format) -> None:
    assert parse_format(text) == expected


def test_parse_format_keeps_last_format_and_size() -> None:
    last = Format(4, "d", 8)
    assert parse_format("/2", last) == Format(2, "d", 8)
    assert parse_format("/x", last) == Format(1, "x", 8)
    # after a char/string examine the size is no longer sticky
    assert parse_format("/x", Format(1, "c", 1)) == Format(1, "x", 4)


@pytest.mark.parametrize("bad", ["/q", "/xx", "/0x", "/4096000x", "/ab", "/4xgw"])
def test_parse_format_rejects(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_format(bad)


MEMORY = {0x1000 + i: b for i, b in enumerate(
    bytes.fromhex("efbeadde 00000000") + b"Hi!\n\0" + bytes([0xFF, 0x7F, 0x00]) + bytes(20))}


def reader(address: int, size: int) -> bytes:
    try:
        return bytes(MEMORY[a] for a in range(address, address + size))
    except KeyError:
        raise UsageError(f"cannot access memory at {address:#x}: not mapped") from None


def lines(fmt: str, address: int = 0x1000, symbols: Symbols | None = None) -> list[str]:
    out, _next = examine(reader, address, parse_format(fmt), symbols or Symbols())
    return out


def test_examine_hex_words_are_zero_padded() -> None:
    assert lines("/2xw") == ["0x1000:\t0xdeadbeef\t0x00000000"]
    assert lines("/xg") == ["0x1000:\t0x00000000deadbeef"]


def test_examine_signed_unsigned_octal_binary() -> None:
    assert lines("/dw") == [f"0x1000:\t{0xDEADBEEF - (1 << 32)}"]
    assert lines("/uw") == [f"0x1000:\t{0xDEADBEEF}"]
    assert lines("/ob") == ["0x1000:\t0357"]
    assert lines("/tb") == ["0x1000:\t11101111"]
    assert lines("/db", 0x100D) == ["0x100d:\t-1"]


def test_examine_chars_and_strings() -> None:
    assert lines("/4cb", 0x1008) == ["0x1008:\t72 'H'\t105 'i'\t33 '!'\t10 '\\x0a'"]
    assert lines("/s", 0x1008) == ['0x1008:\t"Hi!\\n"']
    assert lines("/2s", 0x1008) == ['0x1008:\t"Hi!\\n"', '0x100d:\t"\\377\\177"']


def test_examine_lines_wrap_and_symbols_label() -> None:
    syms = Symbols()
    syms.add("data", 0x1000)
    out = lines("/6xh", symbols=syms)
    assert out[0].startswith("0x1000 <data>:\t0xbeef\t0xdead")
    assert len(out) == 1
    out = lines("/10xb", symbols=syms)
    assert len(out) == 2 and out[1].startswith("0x1008 <data+0x8>:")


def test_examine_addresses_and_instructions() -> None:
    syms = Symbols()
    syms.add("data", 0xDEADBEEF)
    assert lines("/a", symbols=syms) == ["0x1000:\t0xdeadbeef <data>"]
    # 0xdeadbeef is not an instruction: shown as .inst, never an error
    out = lines("/2i")
    assert len(out) == 2 and ".inst" in out[0] and "udf" in out[1]


def test_examine_unmapped_raises_before_printing() -> None:
    with pytest.raises(UsageError, match="not mapped"):
        lines("/4xg", 0x1010)


def test_examine_returns_next_address() -> None:
    _, after = examine(reader, 0x1000, Format(2, "x", 2), Symbols())
    assert after == 0x1004
    _, after = examine(reader, 0x1008, Format(1, "s", 1), Symbols())
    assert after == 0x100D


# --- reply ------------------------------------------------------------------------------

def value(text: str) -> int:
    return evaluate(text, register=lambda n: 7, symbol=lambda n: None, service="psci")


def test_parse_reply_positional_values_are_x0_x1() -> None:
    assert register_list(["0x10000"], value) == {0: 0x10000}
    assert register_list(["0", "1", "2"], value) == {0: 0, 1: 1, 2: 2}


def test_parse_reply_names_and_return_codes() -> None:
    assert register_list(["NOT_SUPPORTED"], value) == {0: 0xFFFF_FFFF_FFFF_FFFF}
    assert register_list(["x0=SUCCESS", "x2=5"], value) == {0: 0, 2: 5}
    assert register_list(["x0=INVALID_PARAMETERS"], value) == {0: (1 << 64) - 2}
    assert register_list(["-1"], value) == {0: (1 << 64) - 1}
    assert register_list(["w1=-1"], value) == {1: 0xFFFF_FFFF}
    assert register_list(["x3=$x1"], value) == {3: 7}


@pytest.mark.parametrize("words", [["x18=1"], ["x0=1", "x0=2"], ["1", "x0=2"], ["q1=2"],
                                   ["x0="], ["BOGUS"], [str(i) for i in range(19)],
                                   ["0x1_0000_0000_0000_0000"]])
def test_parse_reply_rejects(words: list[str]) -> None:
    with pytest.raises(UsageError):
        register_list(words, value)


def test_evaluate_sums_registers_and_names() -> None:
    syms = {"main": 0x40080100}
    ev = lambda t: evaluate(t, register=lambda n: 0x10, symbol=syms.get)  # noqa: E731
    assert ev("main+8") == 0x40080108
    assert ev("$sp + 0x10 - 4") == 0x1C
    assert ev("-1") == (1 << 64) - 1
    assert ev("PSCI_VERSION") == 0x84000000
    for bad in ("", "main main", "main +", "nosuch", "PSCI_CPU_ON", "1 @ 2"):
        with pytest.raises(UsageError):
            ev(bad)


# --- command lookup, help, Enter-repeats ------------------------------------------------

def test_resolve_names_aliases_prefixes_and_subcommands() -> None:
    K.load_all()
    assert K.resolve(["c"])[0].name == "continue"
    assert K.resolve(["cont"])[0].name == "continue"
    assert K.resolve(["si", "3"]) == (K.REGISTRY["stepi"], ["3"])
    assert K.resolve(["i", "r", "x0"]) == (K.REGISTRY["info registers"], ["x0"])
    assert K.resolve(["regs"])[0].name == "info registers"
    assert K.resolve(["filter"])[0].name == "filter list"
    assert K.resolve(["filter"], prefix_default=False)[0].name == "filter"
    assert K.resolve(["filter", "rm", "1"]) == (K.REGISTRY["filter del"], ["1"])
    assert K.resolve(["answer", "PSCI_CPU_ON", "->", "1"])[0].name == "answer"
    assert K.split("x/4xg $sp") == ["x", "/4xg", "$sp"]
    with pytest.raises(UsageError, match='did you mean "continue"'):
        K.resolve(["contnue"])
    with pytest.raises(UsageError, match="ambiguous"):
        K.resolve(["s"])


def test_help_and_usage_come_from_the_declaration() -> None:
    dbg, out = make("hello")
    assert dbg.onecmd("help stepi")
    text = out.getvalue()
    assert "usage: stepi [N]" in text and "aliases: si" in text
    out.seek(0)
    out.truncate()
    assert not dbg.onecmd("stepi 1 2")
    assert out.getvalue().splitlines() == ["*** unrecognized arguments: 2", "usage: stepi [N]"]


def test_enter_repeats_only_step_and_continue() -> None:
    dbg, out = make("hello")
    pc0 = dbg.vcpu.pc
    assert dbg.onecmd("si")
    assert dbg.vcpu.pc == pc0 + 4
    assert dbg.onecmd("")
    assert dbg.vcpu.pc == pc0 + 8
    assert dbg.onecmd("si 2")
    assert dbg.onecmd("  ")
    assert dbg.vcpu.pc == pc0 + 24
    assert dbg.onecmd("info registers pc")
    assert dbg.onecmd("")  # info is not repeated: nothing runs
    assert dbg.vcpu.pc == pc0 + 24
    assert not dbg.onecmd("si nope")
    assert dbg.onecmd("")  # a failed command is not repeated either
    assert dbg.vcpu.pc == pc0 + 24


# --- completion, toolbar, history -------------------------------------------------------

def complete(dbg: Debugger, text: str) -> list[str]:
    return [c.text for c in CommandCompleter(dbg).get_completions(Document(text), None)]


def test_completion_of_commands_arguments_and_names() -> None:
    dbg, _ = make("hello")
    assert complete(dbg, "filt") == ["filter "]
    assert "default " in complete(dbg, "filter ")
    assert complete(dbg, "filter default ") == ["forward ", "handle ", "deny "]
    assert complete(dbg, "filter add ps") == ["psci "]
    assert complete(dbg, "filter add psci forward ") == ["hvc ", "smc ", "both "]
    assert "$sp " in complete(dbg, "x/4xg $s")
    assert complete(dbg, "b ma") == ["main "]
    assert "x0 " in complete(dbg, "info registers x")
    assert "NOT_SUPPORTED " in complete(dbg, "reply NOT_")
    assert "PSCI_CPU_ON " in complete(dbg, "explain psci_cpu_o")
    assert complete(dbg, "nosuchcommand ") == []


def test_toolbar_says_vcpu_state_and_ranges() -> None:
    dbg, _ = make("hello", "--forward", "psci")
    assert toolbar(dbg) == (" vCPU 0 on | not started: c runs the guest | 3 forwarded ranges, "
                            "default handle ")
    assert dbg.onecmd("c")
    assert "at PSCI_SYSTEM_OFF on vCPU 0: reply, handle or deny" in toolbar(dbg)
    assert dbg.onecmd("handle")
    assert "answer (handle) ready, c resumes" in toolbar(dbg)


def test_history_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "hcdbg" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".local" / "state" / "hcdbg" / "history"
