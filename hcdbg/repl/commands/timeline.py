"""The `timeline` command: this run's calls as lanes per vCPU, in the terminal or as a page."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, TextIO

from hcdbg.errors import UsageError
from hcdbg.render.call_lines import Recorded
from hcdbg.render.timeline import Timeline, layout
from hcdbg.render.timeline_html import page, svg
from hcdbg.render.timeline_text import ASCII, UNICODE, Charset, draw
from hcdbg.repl.commands import Parser, command
from hcdbg.repl.commands.calls import _span
from hcdbg.values import decimal

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger

#: The most calls a page draws: each is an SVG group and a JSON entry (20000: about 10 MB).
PAGE_MAX = 20_000


def charset_for(stream: TextIO) -> Charset:
    """Box drawing if the stream's encoding can write it, else ASCII."""
    try:
        "─▼║┄".encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


def write_page(tl: Timeline, records: Sequence[Recorded], path: Path, title: str, bare_svg: bool) -> str:
    """Write the page (or the bare SVG) of `tl`, laid out from `records`, to `path`; the
    line that says so."""
    if len(records) > PAGE_MAX:
        raise UsageError(f"{len(records)} calls is more than a page draws ({PAGE_MAX}): give call "
                         f"numbers N-M (as `calls` shows them)")
    text = svg(tl, records, standalone=True) + "\n" if bare_svg else page(tl, records, title)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None
    kind = "SVG" if bare_svg else "page"
    return (f"wrote the timeline of {len(tl)} call{'s' if len(tl) != 1 else ''} on {tl.lanes} "
            f"vCPU{'s' if tl.lanes != 1 else ''} to {path} ({kind}; open it in a browser)")


def select(records: Sequence[Recorded], lanes: int, span: str | None,
           times: Sequence[int] = ()) -> tuple[Timeline, list[Recorded]]:
    """The timeline of the records numbered in `span` (`N-M` or `N`, as `calls` takes; None:
    all), laid out with the whole history before them, and those records. `times`: when
    each record was made, in instructions (empty: time is call order)."""
    whole = layout(records, lanes, times)
    if span is None:
        return whole, list(records)
    bounds = _span(span)
    if bounds is None:
        raise UsageError(f"bad call numbers {span!r}: expected N or N-M (as `calls` numbers them)")
    first, last = bounds
    return whole.window(first, last), [r for r in records if first <= r.seq <= last]


def width_of(text: str | None) -> int:
    """--width N, or the terminal's width (80 when there is no terminal)."""
    if text is None:
        return shutil.get_terminal_size((80, 24)).columns
    n = decimal(text)
    if n is None or n < 20:
        raise UsageError(f"--width {text}: expected a number of columns, 20 or more")
    return n


p = Parser("timeline", "Draw this run's calls as one lane per vCPU, time going right.\n"
           "Each call is a mark with its short name and answer on its vCPU's lane; the lane's "
           "style is the vCPU's power state (on, off, pending, suspended); an arrow goes from a "
           "CPU_ON to the vCPU it started, SYSTEM_OFF/RESET cross every lane. The picture fits "
           "the terminal (crowded: one glyph, or a count of calls, per column). --html FILE "
           "writes a page to open in a browser (each call's registers and explanation on a "
           "click), --svg FILE the bare picture.",
           usage="timeline [N-M] [--width N] [--html FILE | --svg FILE]")
p.arg("span", nargs="?", metavar="N-M", help="only the calls numbered N to M (as `calls` numbers them)")
p.arg("--width", metavar="N", help="columns to fit (default: the terminal's)")
p.arg("--html", metavar="FILE", help="write a self-contained page to FILE")
p.arg("--svg", metavar="FILE", help="write the picture as an SVG file")


@command(p, aliases=("tl",), category="teaching")
def do_timeline(dbg: Debugger, args: argparse.Namespace) -> None:
    if args.html and args.svg:
        raise UsageError("give one of --html FILE and --svg FILE")
    session = dbg.session
    tl, records = select(session.history[dbg.current_run.history_start:], len(session.machine.vcpus),
                         args.span)
    if args.html or args.svg:
        title = str(session.options.get("guest", {}).get("path", session.machine.image.path))
        dbg.message(write_page(tl, records, Path(args.html or args.svg), Path(title).name,
                               bare_svg=bool(args.svg)))
        return
    if not records:
        dbg.message("No calls yet." if args.span is None else "No call has those numbers.")
        return
    dbg.message(draw(tl, width_of(args.width), charset_for(dbg.console.stream)))
