"""The command registry: one declaration gives a command its name, aliases, help and usage.

A command is a function `(dbg, args)` decorated with `@command(parser, ...)`; the argparse
parser is its one declaration of arguments, so `help`, usage errors and tab completion
(the `complete` attribute of an argument: "register", "location", "range", ...) all come
from it. Names with a space ("info registers") are subcommands of their first word.
"""
from __future__ import annotations

import argparse
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from hcdbg.errors import UsageError

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger


class ArgError(UsageError):
    """The words of a command line do not fit its declaration: report with its usage."""


class _Formatter(argparse.HelpFormatter):
    """Wraps each line of a description on its own, so declared line breaks stay."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        return "\n".join(textwrap.fill(part, width, initial_indent=indent,
                                        subsequent_indent=indent) if part else ""
                         for part in text.splitlines())


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises ArgError instead of printing and exiting."""

    def __init__(self, prog: str, description: str, usage: str | None = None) -> None:
        super().__init__(prog=prog, description=description, usage=usage, add_help=False,
                         allow_abbrev=False, formatter_class=_Formatter)

    def error(self, message: str) -> Any:  # noqa: D401 - argparse's hook
        raise ArgError(message)

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise ArgError((message or "bad arguments").strip())

    def arg(self, *names: str, complete: str | None = None, **kwargs: Any) -> argparse.Action:
        """add_argument plus the kind of word tab completion offers for it."""
        action = self.add_argument(*names, **kwargs)
        action.complete = complete  # type: ignore[attr-defined]
        return action


Handler = Callable[["Debugger", argparse.Namespace], None]


@dataclass
class Command:
    """A declared command."""

    name: str  # full name, "info registers" for a subcommand
    func: Handler
    parser: Parser
    aliases: tuple[str, ...]
    category: str
    repeat: bool  # Enter on an empty line runs it again (gdb: step, continue)
    prefix_default: str | None = None  # "filter" alone runs "filter list"

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return (self.parser.description or "").strip().splitlines()[0]

    @property
    def needs_call(self) -> bool:
        """Declared `@at_call`: it works on the forwarded call the session is stopped at."""
        return bool(getattr(self.func, "at_call", False))

    @property
    def usage(self) -> str:
        return " ".join(self.parser.format_usage().split())

    def help_text(self) -> str:
        text = self.parser.format_help().rstrip()
        subs = subcommands(self.name)
        if subs:
            width = max(len(s.name) for s in subs)
            text += "\n\nsubcommands:\n" + "\n".join(
                f"  {s.name:<{width}}  {s.summary}" for s in subs)
        if self.aliases:
            text += "\n\naliases: " + ", ".join(self.aliases)
        return text


#: Every command by full name, in declaration order.
REGISTRY: dict[str, Command] = {}
#: Alias (one word, or "prefix word") -> full name.
ALIASES: dict[str, str] = {}

CATEGORIES = ("running", "calls", "ranges", "inspecting", "teaching", "session")


def command(parser: Parser, *, aliases: Iterable[str] = (), category: str,
            repeat: bool = False, prefix_default: str | None = None) -> Callable[[Handler], Handler]:
    """Register `func` as the command `parser.prog`."""
    assert category in CATEGORIES, category

    def register(func: Handler) -> Handler:
        name = parser.prog
        REGISTRY[name] = Command(name, func, parser, tuple(aliases), category, repeat,
                                 prefix_default)
        for alias in aliases:
            ALIASES[alias] = name
        return func

    return register


def at_call(func: Handler) -> Handler:
    """Precondition (pwndbg's `OnlyWhenRunning`): the command works on the forwarded call
    the session is stopped at. Anywhere else it fails with the session's one-line NotAtCall
    before it runs, so its body may take `dbg.session.pending` as set."""

    @functools.wraps(func)
    def checked(dbg: Debugger, args: argparse.Namespace) -> None:
        dbg.session.require_call()
        func(dbg, args)

    checked.at_call = True  # type: ignore[attr-defined]
    return checked


def subcommands(prefix: str) -> list[Command]:
    """The subcommands of a prefix command ("info" -> info breakpoints, ...)."""
    return [c for c in REGISTRY.values() if c.name.startswith(prefix + " ")]


def top_names() -> list[str]:
    """Names and one-word aliases a line may start with."""
    names = {n.split()[0] for n in REGISTRY}
    names.update(a for a in ALIASES if " " not in a)
    return sorted(names)


def _pick(word: str, names: dict[str, str], aliases: dict[str, str], what: str) -> str | None:
    """gdb's rule: an exact name or alias, else a unique prefix of a name. `names` and
    `aliases` map the words a user types to the full command names they stand for."""
    if word in names:
        return names[word]
    if word in aliases:
        return aliases[word]
    hits = [n for n in names if n.startswith(word)]
    if len(hits) == 1:
        return names[hits[0]]
    if len(hits) > 1:
        raise UsageError(f'ambiguous {what} "{word}": {", ".join(sorted(hits))}')
    return None


def resolve(words: list[str], *, prefix_default: bool = True) -> tuple[Command, list[str]]:
    """The command a line's words name, and the words left for its arguments
    (`prefix_default=False`: "filter" alone names the prefix command, as help wants)."""
    import difflib

    first = words[0]
    tops = {n.split()[0]: n.split()[0] for n in REGISTRY}
    one_word = {a: n for a, n in ALIASES.items() if " " not in a}
    name = _pick(first, tops, one_word, "command")
    if name is None:
        close = difflib.get_close_matches(first, [*tops, *one_word], n=1)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        raise UsageError(f'undefined command: "{first}"{hint}  Try "help".')
    rest = words[1:]
    if " " in name:  # a one-word alias of a subcommand ("regs")
        return REGISTRY[name], rest
    subs = subcommands(name)
    if subs and rest:
        full = {s.name.split(" ", 1)[1]: s.name for s in subs}
        # aliases map to full names: "info filter" stands for "filter list"
        sub_aliases = {a.split(" ", 1)[1]: n for a, n in ALIASES.items()
                       if a.startswith(name + " ")}
        sub = _pick(rest[0], full, sub_aliases, f"{name} subcommand")
        if sub is not None:
            return REGISTRY[sub], rest[1:]
    cmd = REGISTRY[name]
    if subs and not rest and cmd.prefix_default and prefix_default:
        return REGISTRY[f"{name} {cmd.prefix_default}"], rest
    return cmd, rest


#: A line's pieces: blanks, '...', "...", a backslash and the character after it, plain
#: characters, or a quote or backslash left open.
_PIECE = re.compile(r"""(\s+)|'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([^\s'"\\]+)|(.)""", re.S)
_IN_DOUBLE = re.compile(r"""\\([\\"$`])""")
#: Outside quotes a backslash escapes what it does in "..." (and a quote or a blank); else it
#: stays, so `uart send \nreset\n` sends what `uart send "\nreset\n"` sends.
_ESCAPED = set("\\\"'$` \t")


def split(line: str) -> list[str]:
    """A command line as words: shell-like quoting ('...' keeps everything, "..." and bare
    words take \\, \\" and \\' as escapes and keep any other backslash for the command, such
    as `uart send`'s C escapes); gdb's `x/4xg ADDR` gives "x", "/4xg". Linear in the line's
    length (shlex is quadratic in a word's)."""
    words: list[str] = []
    parts: list[str] | None = None
    for m in _PIECE.finditer(line):
        blank, single, double, escaped, bare, stray = m.groups()
        if blank is not None:
            if parts is not None:
                words.append("".join(parts))
            parts = None
            continue
        if stray is not None:
            what = "a \\ at its end escapes nothing" if stray == "\\" else f"no closing {stray}"
            raise ArgError(f"cannot split the line: {what}")
        if single is not None:
            piece = single
        elif double is not None:
            piece = _IN_DOUBLE.sub(r"\1", double)
        elif escaped is not None:
            piece = escaped if escaped in _ESCAPED else "\\" + escaped
        else:
            piece = bare
        parts = [] if parts is None else parts
        parts.append(piece)
    if parts is not None:
        words.append("".join(parts))
    if words and "/" in words[0] and not words[0].startswith("/"):
        head, _, fmt = words[0].partition("/")
        words[:1] = [head, "/" + fmt]
    return words


def parse(cmd: Command, words: list[str]) -> argparse.Namespace:
    """The command's arguments from words. Words after the name are never options unless
    the parser declares some, so `reply -1` and `set $x0 = -2` read as values."""
    actions = cmd.parser._actions
    if words and actions and not any(a.option_strings for a in actions):
        words = ["--", *words]
    return cmd.parser.parse_args(words)


def load_all() -> None:
    """Import every command module (each registers its commands on import)."""
    from hcdbg.repl.commands import (calls, filter, inspect, interrupts, rewind, run,  # noqa: F401
                                      script, teach, timeline)
