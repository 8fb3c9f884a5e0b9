"""Tab completion from the command declarations: names, subcommands, then each argument's kind."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Iterable, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from hcdbg.errors import HcdbgError
from hcdbg.machine import registers
from hcdbg.stop import CATCH_NAMES
from hcdbg.repl import commands, intids
from hcdbg.smccc import catalog
from hcdbg.smccc.retcodes import all_names as retcode_names
from hcdbg.smccc.source import AnswerSource

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger

_FIXED = {
    "action": ["forward", "handle", "deny"],
    "conduit": ["hvc", "smc", "both"],
    "catch": ["hvc", "smc", "call", *CATCH_NAMES, "irq"],
    "export": ["kvm"],
}


class CommandCompleter(Completer):
    """Completes the first word from the registry, then what the command's parser declares."""

    def __init__(self, dbg: Debugger) -> None:
        self.dbg = dbg

    def words_for(self, kind: str | None, word: str, before: Sequence[str] = ()) -> list[str]:
        """Candidates for one kind of argument (`before`: the command's words before it)."""
        symbols = sorted(self.dbg.session.machine.image.symbols.by_name)
        regs = registers.all_names()
        functions = catalog.names()
        services = catalog.service_names()
        if kind in _FIXED:
            return _FIXED[kind]
        if kind == "register":  # info registers takes names with or without $
            return [f"${r}" for r in regs] if word.startswith("$") else regs
        if kind == "lvalue":  # set $x0 = ...
            return [f"${r}" for r in regs]
        if kind == "location":
            return [f"${r}" for r in regs] if word.startswith("$") else symbols
        if kind == "range":
            return services + functions
        if kind == "function":
            return functions + services
        if kind == "value":
            return retcode_names() + [f"x{i}=" for i in range(18)]
        if kind == "rule":
            return functions + services + retcode_names() + ["->", "hvc", "smc"]
        if kind == "calls":
            return services + functions + ["vcpu", *(s.word for s in AnswerSource)]
        if kind == "command":
            return commands.top_names()
        if kind == "vcpu":
            return [str(v.index) for v in self.dbg.session.machine.vcpus]
        if kind == "catch-what":  # what follows catch's first word depends on that word
            first, more = (before[0], len(before) > 1) if before else ("", False)
            known = [str(i) for i in sorted(intids.KNOWN)]
            if first == "irq":
                return known if more else ["off", *known]
            if more:
                return []
            return ["off"] if first in CATCH_NAMES else self.words_for("range", word)
        if kind == "file":
            return _paths(word) + ["stop"]
        return []

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        words = text.split()
        if words and "/" in words[0] and not words[0].startswith("/") and len(words) > 1:
            head, _, fmt = words[0].partition("/")
            words[:1] = [head, "/" + fmt]  # x/4xg $sp, as commands.split reads it
        if text.endswith(" ") or not words:
            words.append("")
        word = words[-1]
        try:
            candidates = self._candidates(words[:-1], word)
        except HcdbgError:
            return
        low = word.lower()
        hits = [c for c in candidates if c.startswith(word)] or \
            [c for c in candidates if c.lower().startswith(low)]  # psci_cpu_on -> PSCI_CPU_ON
        for cand in dict.fromkeys(hits):
            # gdb ends a completed word with a space; "x1=" and "dir/" wait for more
            text = cand if cand.endswith(("=", "/")) else cand + " "
            yield Completion(text, start_position=-len(word), display=cand)

    def _candidates(self, before: list[str], word: str) -> list[str]:
        if not before:
            return commands.top_names()
        cmd, rest = commands.resolve(before, prefix_default=False)
        subs = commands.subcommands(cmd.name)
        if subs and not rest:
            names = [s.name.split(" ", 1)[1] for s in subs]
            return names + self._arg_words(cmd, rest, word)
        return self._arg_words(cmd, rest, word)

    def _arg_words(self, cmd: commands.Command, rest: list[str], word: str) -> list[str]:
        positionals = [a for a in cmd.parser._actions if not a.option_strings]
        if rest and rest[0].startswith("/"):
            rest = rest[1:]  # the /FMT of x is not an argument
        index = len(rest)
        for action in positionals:
            if action.nargs in ("*", "+", argparse.REMAINDER):
                return self.words_for(getattr(action, "complete", None), word, rest)
            if index == 0:
                if action.choices:
                    return list(action.choices)
                return self.words_for(getattr(action, "complete", None), word, rest)
            index -= 1
        return []


def _paths(word: str) -> list[str]:
    """Files and directories (with a trailing /) that `word` may be the start of."""
    import os

    head, _, _ = word.rpartition("/")
    directory = os.path.expanduser(head) if head else "."
    try:
        names = sorted(os.listdir(directory or "/"))
    except OSError:
        return []
    prefix = f"{head}/" if head else ""
    return [prefix + n + ("/" if os.path.isdir(os.path.join(directory or "/", n)) else "") for n in names]
