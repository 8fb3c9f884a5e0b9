"""Styled text as plain data: (style class, text) fragments, their colours, and plain output.

A fragment list is exactly what prompt_toolkit calls FormattedText, but this module does not
import prompt_toolkit: `render/` builds fragments, `repl/` prints them (in colour, or as
plain text with `plain()` for --no-color and for output that is not a terminal).
"""
from __future__ import annotations

from typing import Iterable

#: A piece of styled text: ("class:NAME", text); "" for unstyled.
Fragment = tuple[str, str]
Fragments = list[Fragment]

#: Colours of hcdbg's own classes (prompt_toolkit style syntax, ANSI colour names only, so
#: the terminal's palette decides and 16-colour terminals work).
STYLE: dict[str, str] = {
    "title": "bold",
    "rule": "ansibrightblack",
    "stop": "bold ansiyellow",
    "fault": "bold ansired",
    "label": "ansibrightblack",
    "name": "bold ansicyan",
    "service": "ansicyan",
    "value": "",
    "changed": "bold ansired",
    "answer": "bold ansigreen",
    "pending": "bold ansimagenta",
    "hint": "italic ansibrightblack",
    "address": "ansiblue",
    "symbol": "ansiyellow",
    "pc": "bold ansigreen",
    "error": "ansired",
    "uart": "",
    # timeline (render/timeline_text.py): lanes styled by power state, marks, arrows
    "timeline.on": "ansigreen",
    "timeline.off": "",
    "timeline.pending": "ansiyellow",
    "timeline.suspended": "ansiblue",
    "timeline.mark": "bold",
    "timeline.failed": "bold ansired",
    "timeline.arrow": "ansimagenta",
    "timeline.barrier": "bold ansired",
    "timeline.lane": "bold",
    "timeline.axis": "ansibrightblack",
    # disassembly (pygments tokens, see token_class)
    "pygments.keyword": "ansigreen",
    "pygments.name.variable": "ansicyan",
    "pygments.literal.number": "ansimagenta",
    "pygments.punctuation": "",
    "pygments.comment": "ansiyellow",
    "pygments.name.label": "ansiyellow",
    # prompt and toolbar
    "prompt": "bold",
    "bottom-toolbar": "noreverse bg:ansibrightblack ansiwhite",
}


def token_class(token: tuple[str, ...]) -> str:
    """The style class prompt_toolkit gives a pygments token (Token.Keyword -> pygments.keyword)."""
    return "class:" + ".".join(("pygments", *token)).lower()


def plain(fragments: Iterable[Fragment]) -> str:
    """The text of fragments without their styles."""
    return "".join(text for _style, text in fragments)


def line(*parts: Fragment | str) -> Fragments:
    """One output line from fragments and unstyled strings, newline added."""
    out: Fragments = [p if isinstance(p, tuple) else ("", p) for p in parts]
    out.append(("", "\n"))
    return out


def rule(title: str, width: int = 72) -> Fragments:
    """A section header: `-----[ title ]-----...` (ASCII, so any terminal shows it)."""
    head = f"[ {title} ]"
    return [("class:rule", "-" * 4), ("class:title", head),
            ("class:rule", "-" * max(4, width - 4 - len(head))), ("", "\n")]
