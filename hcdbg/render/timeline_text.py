"""The timeline drawn in a terminal: lanes of styled characters no wider than the screen.

Three zooms, the roomiest that fits the width: each call's label (`ON(3) ALREADY_ON`), its
glyph (`+3!`), or, when even one column per call is too many, calls counted per column.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from hcdbg.render.style import Fragments
from hcdbg.render.timeline import SHORT, Power, Timeline

Cell = tuple[str, str]  # (character, style class)


@dataclass(frozen=True)
class Charset:
    """The characters a picture is drawn with: box drawing, or ASCII for any terminal."""

    power: dict[Power, str]
    down: str
    up: str
    line: str
    cross: str
    barrier: str


UNICODE = Charset({Power.ON: "─", Power.OFF: " ", Power.PENDING: "┄", Power.SUSPENDED: "~"},
                  "▼", "▲", "│", "┼", "║")
ASCII = Charset({Power.ON: "-", Power.OFF: " ", Power.PENDING: ".", Power.SUSPENDED: "~"},
                "v", "^", "|", "|", ":")

_POWER_CLASS = {p: f"class:timeline.{p.value}" for p in Power}
_MARK, _FAILED = "class:timeline.mark", "class:timeline.failed"
_ARROW, _BARRIER = "class:timeline.arrow", "class:timeline.barrier"
_LANE, _AXIS, _HINT = "class:timeline.lane", "class:timeline.axis", "class:hint"
#: The narrowest picture drawn: a lane name and a few columns.
MIN_WIDTH = 20


class Zoom(Enum):
    """How much of each call a column shows."""

    LABELS = "labels"
    GLYPHS = "glyphs"
    COUNTS = "counts"
    TIME = "time"  # columns of instructions run, not of calls


def insns_text(n: int) -> str:
    """An instruction count in a few characters: 950, 12k, 3.4M, 1.2G."""
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 and n % size else f"{n // size}{unit}"
    return str(n)


def choose_zoom(tl: Timeline, width: int) -> tuple[Zoom, int]:
    """The roomiest zoom whose picture fits `width` columns, and (COUNTS) the calls per
    column, or (TIME: the timeline has times) the instructions per column."""
    room = width - _left(tl) - 1  # lane names and the column before the first call
    if tl.times:
        return Zoom.TIME, max(1, -(-(tl.times[-1] - tl.times[0] + 1) // max(room, 1)))
    if sum(len(m.label) + 1 for m in tl.marks) <= room:
        return Zoom.LABELS, 1
    if sum(len(m.brief) + 1 for m in tl.marks) <= room:
        return Zoom.GLYPHS, 1
    room = max(room, 1)
    return Zoom.COUNTS, max(1, -(-len(tl) // room))


def _left(tl: Timeline) -> int:
    return len(f"vCPU {tl.lanes - 1}") + 1


def draw(tl: Timeline, width: int, charset: Charset = UNICODE) -> Fragments:
    """The picture and its legend, every line at most `width` (at least MIN_WIDTH) columns."""
    width = max(width, MIN_WIDTH)
    if not tl.marks:
        return [("", "No calls yet.\n")]
    zoom, per = choose_zoom(tl, width)
    grid = _Grid(tl, width, charset)
    if zoom is Zoom.TIME:
        grid.by_time(per)
    elif zoom is Zoom.COUNTS:
        grid.counts(per)
    else:
        grid.slots(zoom)
    out = grid.fragments()
    for text, style in legend(tl, zoom, per, width, charset):
        out.append((style, text))
    return out


class _Grid:
    """Rows of cells: the time axis, then each lane with a gap row under it (for arrows)."""

    def __init__(self, tl: Timeline, width: int, charset: Charset) -> None:
        self.tl, self.width, self.cs = tl, width, charset
        self.left = _left(tl)
        self.rows: list[list[Cell]] = [[(" ", "")] * width for _ in range(2 * tl.lanes)]
        for v in range(tl.lanes):
            for x, ch in enumerate(f"vCPU {v}"):
                self.rows[self.lane(v)][x] = (ch, _LANE)
            self._state(v, self.left, tl.initial[v])
        self.used = self.left + 1

    @staticmethod
    def lane(v: int) -> int:
        return 1 + 2 * v

    def _state(self, v: int, x: int, power: Power) -> None:
        self.rows[self.lane(v)][x] = (self.cs.power[power], _POWER_CLASS[power])

    def _text(self, row: int, x: int, text: str, style: str) -> None:
        for i, ch in enumerate(text):
            if x + i < self.width:
                self.rows[row][x + i] = (ch, style)

    def slots(self, zoom: Zoom) -> None:
        """One slot per call, as wide as its label (or glyph) and a separator."""
        tl = self.tl
        x = self.left + 1
        columns = []
        for i, m in enumerate(tl.marks):
            text = m.label if zoom is Zoom.LABELS else m.brief
            for v in range(tl.lanes):
                for dx in range(len(text) + 1):
                    self._state(v, x + dx, tl.states[v][i])
            self._text(self.lane(m.vcpu), x, text, _FAILED if m.failed else _MARK)
            columns.append(x)
            x += len(text) + 1
        self.used = x
        self._links(dict(enumerate(columns)))
        free = self.left + 1
        for i, m in enumerate(tl.marks):  # call numbers on the axis, where they fit
            number = f"#{m.seq}"
            if columns[i] >= free and columns[i] + len(number) <= self.width:
                self._text(0, columns[i], number, _AXIS)
                free = columns[i] + len(number) + 1

    def counts(self, per: int) -> None:
        """`per` calls per column; a lane shows how many of them it made (*: 10 or more)."""
        n = len(self.tl)
        self._columns([list(range(first, min(first + per, n))) for first in range(0, n, per)],
                      lambda c, calls: f"#{self.tl.marks[calls[0]].seq}" if calls else "", glyphs=per == 1)

    def by_time(self, span: int) -> None:
        """`span` instructions per column (the calls' `times`); columns without calls show
        the lanes' states."""
        times = self.tl.times
        groups: list[list[int]] = [[] for _ in range((times[-1] - times[0]) // span + 1)]
        for i, t in enumerate(times):
            groups[(t - times[0]) // span].append(i)
        self._columns(groups, lambda c, _calls: insns_text(c * span), glyphs=True)

    def _columns(self, groups: list[list[int]], axis: Callable[[int, list[int]], str], glyphs: bool) -> None:
        """One column per group of calls (indices, in order): a lane that made some shows how
        many (* for 10 or more; with `glyphs`, one call shows its glyph); the others their
        state after the group (or the last call before it). `axis(column, calls)` labels
        every tenth column."""
        tl = self.tl
        columns: dict[int, int] = {}
        last = -1
        for c, calls in enumerate(groups):
            x = self.left + 1 + c
            made: dict[int, list[int]] = {}
            for i in calls:
                made.setdefault(tl.marks[i].vcpu, []).append(i)
                columns[i] = x
            last = calls[-1] if calls else last
            for v in range(tl.lanes):
                mine = made.get(v)
                if mine:
                    count = len(mine)
                    text = tl.marks[mine[0]].glyph[0] if count == 1 and glyphs else str(count) if count < 10 else "*"
                    self._text(self.lane(v), x, text, _FAILED if any(tl.marks[i].failed for i in mine) else _MARK)
                else:
                    self._state(v, x, tl.states[v][last] if last >= 0 else tl.initial[v])
            label = axis(c, calls) if c % 10 == 0 else ""
            if label and x + len(label) <= self.width and all(ch == " " for ch, _ in self.rows[0][x - 1:x + len(label)]):
                self._text(0, x, label, _AXIS)
            self.used = x + 1
        self._links(columns, keep_marks=True)

    def _links(self, at: dict[int, int], keep_marks: bool = False) -> None:
        """Arrows from each CPU_ON to the lane it started, and barriers across all lanes, in
        the column `at[slot]` of their call (every slot's). In COUNTS a lane's count stays."""
        cs, tl = self.cs, self.tl
        marks_here = {(self.lane(m.vcpu), at[m.slot]) for m in tl.marks} if keep_marks else set()
        for a in tl.arrows:
            x = at[a.slot]
            lo, hi = sorted((self.lane(a.source), self.lane(a.target)))
            for row in range(lo + 1, hi):
                if (row, x) in marks_here or row == self.lane(a.source):
                    continue
                ch = self.rows[row][x][0]
                self.rows[row][x] = (cs.cross if row % 2 and ch == cs.power[Power.ON] else cs.line, _ARROW)
            head = self.lane(a.target)
            if (head, x) not in marks_here:
                self.rows[head][x] = (cs.down if head > self.lane(a.source) else cs.up, _ARROW)
        for b in tl.barriers:
            x = at[b.slot]
            for row in range(1, len(self.rows)):
                if row != self.lane(b.vcpu) and (row, x) not in marks_here:
                    self.rows[row][x] = (cs.barrier, _BARRIER)

    def fragments(self) -> Fragments:
        out: Fragments = []
        rows = self.rows if any(ch != " " for ch, _ in self.rows[0]) else self.rows[1:]
        for row in rows:
            cells = row if row is self.rows[0] else row[:self.used]
            while cells and cells[-1][0] == " ":
                cells = cells[:-1]
            for ch, style in cells:
                if out and out[-1][0] == style and out[-1][1] != "\n":
                    out[-1] = (style, out[-1][1] + ch)
                else:
                    out.append((style, ch))
            out.append(("", "\n"))
        return out


def legend(tl: Timeline, zoom: Zoom, per: int, width: int, charset: Charset = UNICODE) -> list[tuple[str, str]]:
    """The key under a picture, as (text, style) lines of at most `width` columns."""
    cs = charset
    seen = set(tl.initial).union(*tl.states)
    items = [f"{cs.power[p]} {p.value}" for p in (Power.ON, Power.PENDING, Power.SUSPENDED) if p in seen]
    items.append("blank: off")
    if tl.arrows:
        items.append(f"{cs.down}{cs.up} CPU_ON starts that vCPU")
    if tl.barriers:
        items.append(f"{cs.barrier} system off/reset")
    if zoom is Zoom.TIME:
        items.append(f"time: instructions run (the --deterministic clock, to within a slice); "
                     f"1 column = {insns_text(per)} instructions, numbered from the first call")
    else:
        items.append("time: call order, #N numbers calls as `calls` does")
    names = sorted({(m.name, SHORT.get(m.name, (m.short, m.glyph))) for m in tl.marks}, key=lambda t: t[0])
    targets = any(m.target is not None for m in tl.marks)
    refused = any(m.failed for m in tl.marks)
    if zoom is Zoom.LABELS:
        items += [f"{short} {name}" for name, (short, _g) in names if short != name]
        items += ["(n): the vCPU a call names"] if targets else []
    elif zoom is Zoom.GLYPHS:
        items += [f"{glyph} {name}" for name, (_s, glyph) in names]
        items += ["n after a glyph: the vCPU it names"] if targets else []
        items += ["! refused (negative return code)"] if refused else []
    elif zoom is Zoom.TIME or per == 1:
        items += [f"{glyph[0]} {name}" for name, (_s, glyph) in names]
        items += ["a digit: that many calls in one column (*: 10 or more)"] if zoom is Zoom.TIME else []
        items += ["red: refused (negative return code)"] if refused else []
    else:
        items.append(f"1 column = {per} calls; a digit: calls that vCPU made in it (*: 10 or more)"
                     + ("; a refusal among them shows red" if refused else ""))
    return [(line + "\n", _HINT) for line in _pack(items, width)]


def _pack(items: list[str], width: int) -> list[str]:
    """Items joined by two spaces into lines of at most `width` columns (a longer item is
    wrapped at its spaces)."""
    lines: list[str] = []
    current = ""
    for whole in items:
        *full, item = textwrap.wrap(whole, width, break_on_hyphens=False) or [""]
        if full:
            if current:
                lines.append(current)
            lines.extend(full)
            current = ""
        if current and len(current) + 2 + len(item) > width:
            lines.append(current)
            current = ""
        current = f"{current}  {item}" if current else item
    if current:
        lines.append(current)
    return lines
