"""Hundreds of malformed command lines: each fails with one `***` line, none prints a
traceback, and none changes the guest (registers, power states, memory, ranges, rules,
breakpoints, the pending call and its answer)."""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcdbg.cli.launch import build_session
from hcdbg.cli.parse import repl_options
from hcdbg.repl import commands as K
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger

REGS = [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate", "elr_el1", "esr_el1", "vbar_el1"]


def _setup() -> tuple[Debugger, io.StringIO]:
    args = repl_options(["psci-tour", "--smp", "2", "--forward", "psci"])
    out = io.StringIO()
    console = Console(out, color=False)
    dbg = Debugger(build_session(args, console.uart), console)
    for line in ("b main", "answer TRNG_RND64 -> NO_ENTROPY", "c", "c"):
        assert dbg.onecmd(line) or line == "c", out.getvalue()
    assert dbg.session.pending is not None  # stopped at PSCI_VERSION, no answer yet
    dbg.last_repeat = None
    return dbg, out


DBG, OUT = _setup()
# Fuzzed lines may name files (`record ;5` records to ";5"): they land in a scratch folder,
# not in the checkout (five such recordings were once committed by accident).
os.chdir(tempfile.mkdtemp(prefix="hcdbg-fuzz-"))


def snapshot(dbg: Debugger) -> tuple:
    s = dbg.session
    m = s.machine
    image = m.image.segments[0]
    memory = m.read_memory(image.address, image.memsize)
    stack = m.read_memory(image.address + image.memsize, 0x10000)
    return (
        [tuple(v.read(r) for r in REGS) for v in m.vcpus],
        [v.state for v in m.vcpus],
        hashlib.sha256(memory + stack).hexdigest(),
        [(r.base, r.count, r.action, r.scope) for r in s.filter.entries()],
        s.filter.default,
        [r.text for r in s.rules.entries()],
        sorted(m.breakpoints),
        sorted((b.number, b.address, b.temporary, b.hits) for b in s.breakpoints),
        s.pending.trap if s.pending else None,
        s.pending.answer if s.pending else None,
        len(s.history),
        bytes(m.uart.output),
        dbg.focus,
        s.last_stop,
    )


BEFORE = snapshot(DBG)

K.load_all()
#: Not fuzzed: commands whose argument is free text, which no word makes malformed: `echo`
#: and `uart send` take any TEXT; `record FILE` any word as a file name ("record ;5" records
#: to ";5"; it failed only while an earlier example had left the guest running).
NAMES = sorted({*(n for n in K.REGISTRY), *K.ALIASES} - {"echo", "uart send", "record"})

#: Words that are fine on their own, so a line mixes valid and invalid words.
PLAUSIBLE = ["0", "1", "-1", "0x10", "0x84000000", "0x84000000+0x20", "0x0-0x1", "psci",
             "trng", "PSCI_CPU_ON", "forward", "deny", "handle", "hvc", "smc", "both", "kvm",
             "$x0", "$pc", "$sp", "x0=1", "w1=2", "=", "->", "main", "main+4", "*0x40080000",
             "/4xg", "/s", "NOT_SUPPORTED", "vcpu", "var", "list", "del", "#2"]
#: Characters that make a word invalid wherever it goes (and unbalanced quotes).
JUNK = "@%^~`?;|&\"'\\"

junk_word = st.text(alphabet=JUNK, min_size=1, max_size=3).flatmap(
    lambda j: st.tuples(st.text(alphabet="abcx0123456789$=+-_", max_size=6), st.just(j),
                        st.text(alphabet="abcx0123456789$=+-_", max_size=6)).map("".join))
word = st.one_of(st.sampled_from(PLAUSIBLE), st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=10).map(str.strip))


@st.composite
def malformed(draw) -> str:  # noqa: ANN001
    """A known command (or alias, or subcommand) with at least one invalid word."""
    name = draw(st.sampled_from(NAMES))
    words = draw(st.lists(word, max_size=5))
    at = draw(st.integers(0, len(words)))
    words.insert(at, draw(junk_word))
    return " ".join([name, *words])


unknown = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(
    lambda t: "zq" + t)  # no command starts with zq
typo_format = st.text(alphabet="0123456789xduotacszibhwgqQ@!", min_size=1, max_size=6).filter(
    lambda f: any(c in "qQ@!" for c in f) or re.match(r"0+(\D|$)", f) is not None).map(
    lambda f: f"x/{f} $sp")


@settings(max_examples=600, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(malformed(), unknown, typo_format))
def test_malformed_lines_fail_cleanly_and_change_nothing(line: str) -> None:
    start = OUT.tell()
    ok = DBG.onecmd(line)
    printed = OUT.getvalue()[start:]
    assert "Traceback" not in printed and "internal error" not in printed, (line, printed)
    assert ok is False, (line, printed)
    assert printed.startswith("*** ") and printed.count("***") == 1, (line, printed)
    assert printed.endswith("\n")
    assert snapshot(DBG) == BEFORE, line


def test_the_session_still_works_after_the_fuzzing() -> None:
    start = OUT.tell()
    assert DBG.onecmd("reply 0x10000")
    assert DBG.onecmd("c")
    assert "PSCI_VERSION -> 0x0000000000010000" in OUT.getvalue()[start:]
