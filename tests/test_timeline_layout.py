"""The timeline's layout and its terminal picture, from call histories written out by hand:
lanes, marks, arrows, power states, barriers, windows, and zooming out when crowded.

Return codes are DEN0022D.b's (§5.2.2 table 6: SUCCESS 0, INVALID_PARAMETERS -2,
ALREADY_ON -4, ON_PENDING -5); AFFINITY_INFO's results are §5.1.5's (0 ON, 1 OFF,
2 ON_PENDING); function IDs are §5.1's (CPU_ON_64 0xc4000003, ...).
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hcdbg.render.style import plain
from hcdbg.render.timeline import Power, layout
from hcdbg.render.timeline_html import page, svg
from hcdbg.render.timeline_text import ASCII, UNICODE, Zoom, choose_zoom, draw
from hcdbg.session import callscript
from hcdbg.session.record import CallRecord
from hcdbg.session.script_history import lanes_of, records_of
from hcdbg.smccc.call import Call
from hcdbg.smccc.effects import CpuOff, CpuOn, CpuSuspend, SystemOff, SystemReset
from hcdbg.smccc.source import BUILT_IN, BY_USER

VERSION, CPU_OFF, SYSTEM_OFF, SYSTEM_RESET = 0x8400_0000, 0x8400_0002, 0x8400_0008, 0x8400_0009
CPU_SUSPEND_64, CPU_ON_64, AFFINITY_INFO_64 = 0xC400_0001, 0xC400_0003, 0xC400_0004
SUCCESS, INVALID_PARAMETERS, ALREADY_ON, ON_PENDING = 0, -2, -4, -5
M64 = (1 << 64) - 1


class History:
    """Builds CallRecords as a session would keep them, numbered from 1."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def call(self, vcpu: int, fid: int, args: tuple[int, ...] = (), x0: int | None = SUCCESS,
             effect: object = None, by=BUILT_IN) -> "History":
        regs = (fid, *args) + (0,) * (17 - len(args))
        answer = {} if x0 is None else {0: x0 & M64}
        self.records.append(CallRecord(len(self.records) + 1, Call(fid, regs, "hvc", 0, vcpu, 0x4008_0000),
                                       by, answer, "", effect))  # type: ignore[arg-type]
        return self

    def cpu_on(self, vcpu: int, target: int, x0: int = SUCCESS, started: bool = True) -> "History":
        effect = CpuOn(target, 0x4008_0100, 0x1000 + target) if started else None
        return self.call(vcpu, CPU_ON_64, (target, 0x4008_0100, 0x1000 + target), x0, effect)

    def cpu_off(self, vcpu: int) -> "History":
        return self.call(vcpu, CPU_OFF, (), None, CpuOff())

    def affinity(self, vcpu: int, target: int, x0: int) -> "History":
        return self.call(vcpu, AFFINITY_INFO_64, (target, 0), x0)


def race() -> History:
    """cpu-race's shape: vCPU 0 starts 1, 2 and 3; 1 and 2 then also try to start 3."""
    h = History()
    h.cpu_on(0, 1).cpu_on(0, 2).cpu_on(0, 3)
    h.cpu_on(1, 3, ALREADY_ON, started=False).cpu_off(1)
    h.cpu_on(2, 3, ALREADY_ON, started=False).cpu_off(2)
    h.cpu_off(3)
    h.affinity(0, 1, 1).affinity(0, 2, 1).affinity(0, 3, 1)
    h.call(0, SYSTEM_OFF, (), None, SystemOff())
    return h


def test_race_lanes_marks_and_arrows() -> None:
    tl = layout(race().records, lanes=4)
    assert tl.lanes == 4 and len(tl) == 12
    assert [m.seq for m in tl.marks] == list(range(1, 13))
    # One arrow per CPU_ON that started a vCPU, none for the two that got ALREADY_ON.
    assert [(a.seq, a.source, a.target) for a in tl.arrows] == [(1, 0, 1), (2, 0, 2), (3, 0, 3)]
    refused = [m for m in tl.marks if m.failed]
    assert [(m.seq, m.vcpu, m.target, m.answer) for m in refused] == [(4, 1, 3, "ALREADY_ON"), (6, 2, 3, "ALREADY_ON")]
    assert tl.marks[0].label == "ON(1) ok"
    assert tl.marks[3].label == "ON(3) ALREADY_ON"
    assert tl.marks[8].label == "AFF(1) OFF"
    assert tl.marks[4].label == "OFF"  # CPU_OFF does not return: no answer shown


def test_race_power_states() -> None:
    tl = layout(race().records, lanes=4)
    on, off = Power.ON, Power.OFF
    assert tl.initial == (on, off, off, off)  # vCPU 0 boots, the others wait for CPU_ON
    assert tl.states[1][:5] == (on, on, on, on, off)  # started by #1, off after its CPU_OFF (#5)
    assert tl.states[3][2:8] == (on,) * 5 + (off,)
    assert [tl.states[v][-1] for v in range(4)] == [off] * 4  # after SYSTEM_OFF
    assert [(b.seq, b.vcpu, b.kind) for b in tl.barriers] == [(12, 0, "SYSTEM_OFF")]
    assert [(s.start, s.end, s.power) for s in tl.spans(1)] == [(-1, 0, off), (0, 4, on), (4, 12, off)]


def test_a_vcpu_first_seen_making_a_call_was_on_from_the_start() -> None:
    """A history that begins mid-run (a script recorded from call N): vCPU 2 calls before
    anything starts it, so it was on all along."""
    h = History().call(0, VERSION, x0=0x10001).call(2, VERSION, x0=0x10001)
    tl = layout(h.records, lanes=3)
    assert tl.initial == (Power.ON, Power.OFF, Power.ON)
    assert tl.states[2] == (Power.ON, Power.ON)
    assert tl.marks[0].label == "VER 1.1"


def test_suspended_until_seen_again() -> None:
    h = History().cpu_on(0, 1)
    h.call(1, CPU_SUSPEND_64, (0x1_0000, 0x4008_0200, 7), SUCCESS, CpuSuspend(0x4008_0200, 7))
    h.call(0, VERSION, x0=0x10001).call(1, CPU_OFF, (), None, CpuOff())
    tl = layout(h.records, lanes=2)
    assert tl.states[1] == (Power.ON, Power.SUSPENDED, Power.SUSPENDED, Power.OFF)


def test_pending_when_told_a_cpu_starts_but_nothing_started_it() -> None:
    """A CPU_ON answered SUCCESS by hand (no effect: the machine starts nothing) leaves its
    target pending; so does ON_PENDING from AFFINITY_INFO. The target's own call ends it."""
    h = History()
    h.call(0, CPU_ON_64, (1, 0x4008_0100, 0), SUCCESS, None, BY_USER)
    h.affinity(0, 2, 2)  # AFFINITY_INFO(2) = 2 ON_PENDING
    h.call(1, VERSION, x0=0x10001)
    tl = layout(h.records, lanes=3)
    assert tl.arrows == ()
    assert tl.states[1] == (Power.PENDING, Power.PENDING, Power.ON)
    assert tl.states[2] == (Power.OFF, Power.PENDING, Power.PENDING)
    assert tl.marks[1].label == "AFF(2) ON_PENDING" and not tl.marks[1].failed


def test_system_reset_crosses_every_lane_and_boots_vcpu0_again() -> None:
    h = History().cpu_on(0, 1).call(1, SYSTEM_RESET, (), None, SystemReset()).call(0, VERSION, x0=0x10001)
    tl = layout(h.records, lanes=2)
    assert [(b.seq, b.vcpu, b.kind) for b in tl.barriers] == [(2, 1, "SYSTEM_RESET")]
    assert (tl.states[0][1], tl.states[1][1]) == (Power.ON, Power.OFF)


def test_refused_cpu_on_of_a_cpu_that_does_not_exist_adds_no_lane() -> None:
    h = History().cpu_on(0, 4, INVALID_PARAMETERS, started=False)
    tl = layout(h.records, lanes=4)
    assert tl.lanes == 4 and tl.marks[0].label == "ON(4) INVALID_PARAMETERS" and tl.marks[0].failed


def test_window_keeps_the_states_the_whole_history_had() -> None:
    tl = layout(race().records, lanes=4).window(4, 6)
    assert [m.seq for m in tl.marks] == [4, 5, 6] and [m.slot for m in tl.marks] == [0, 1, 2]
    assert tl.initial == (Power.ON,) * 4  # 1, 2, 3 were started by #1-#3, before the window
    assert tl.arrows == () and tl.barriers == ()


def _lines(fragments: list[tuple[str, str]]) -> list[str]:
    return plain(fragments).splitlines()


def test_wide_terminal_shows_labels_arrows_and_the_barrier() -> None:
    tl = layout(race().records, lanes=4)
    assert choose_zoom(tl, 160)[0] is Zoom.LABELS
    lines = _lines(draw(tl, 160))
    lane = {int(line.split()[1]): (i, line) for i, line in enumerate(lines) if line.startswith("vCPU ")}
    assert sorted(lane) == [0, 1, 2, 3]
    assert lane[1][1].count("ON(3) ALREADY_ON") == 1 and lane[2][1].count("ON(3) ALREADY_ON") == 1
    assert lane[0][1].count("ON(3) ok") == 1
    for target, label in ((1, "ON(1) ok"), (2, "ON(2) ok"), (3, "ON(3) ok")):
        column = lane[0][1].index(label)
        assert lane[target][1][column] == "▼", (target, lines)
        for row in range(lane[0][0] + 1, lane[target][0]):  # the arrow's shaft, down to it
            assert lines[row][column] in "│┼", (row, lines)
    barrier = lane[0][1].index("SYSTEM_OFF")
    assert all(lane[v][1][barrier] == "║" for v in (1, 2, 3))
    assert all(len(line) <= 160 for line in lines)


def test_narrow_terminal_zooms_to_glyphs_then_counts() -> None:
    tl = layout(race().records, lanes=4)
    assert choose_zoom(tl, 80)[0] is Zoom.GLYPHS
    lines = _lines(draw(tl, 80, ASCII))
    assert sum(line.count("+3!") for line in lines) == 2  # the two ALREADY_ONs
    h = History()
    for _ in range(300):
        h.call(0, VERSION, x0=0x10001)
    h.cpu_on(0, 1).call(1, VERSION, x0=0x10001)
    for _ in range(97):
        h.call(1, VERSION, x0=0x10001)
    tl = layout(h.records, lanes=2)
    zoom, per = choose_zoom(tl, 80)
    assert zoom is Zoom.COUNTS and per == 6  # 400 calls over the 72 columns after "vCPU 1 " and the start
    lines = _lines(draw(tl, 80))
    digits = {v: sum(int(c) for c in line[8:] if c.isdigit())
              for v in (0, 1) for line in lines if line.startswith(f"vCPU {v}")}
    assert digits == {0: 301, 1: 98}  # every call counted once, on its own lane
    assert all(len(line) <= 80 for line in lines)


CALL_KINDS = st.sampled_from(["version", "on", "on-refused", "off", "affinity", "suspend"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), CALL_KINDS, st.integers(0, 7)), max_size=300),
       st.integers(20, 220), st.booleans())
def test_no_line_is_wider_than_the_width(calls: list[tuple[int, str, int]], width: int, ascii_: bool) -> None:
    h = History()
    for vcpu, kind, other in calls:
        if kind == "version":
            h.call(vcpu, VERSION, x0=0x10001)
        elif kind in ("on", "on-refused"):
            h.cpu_on(vcpu, other, SUCCESS if kind == "on" else ALREADY_ON, started=kind == "on")
        elif kind == "off":
            h.cpu_off(vcpu)
        elif kind == "affinity":
            h.affinity(vcpu, other, 1)
        else:
            h.call(vcpu, CPU_SUSPEND_64, (0, 0, 0), SUCCESS, CpuSuspend(None, 0))
    tl = layout(h.records, lanes=1)
    lines = _lines(draw(tl, width, ASCII if ascii_ else UNICODE))
    assert all(len(line) <= width for line in lines)
    assert len([line for line in lines if re.match(r"vCPU \d", line)]) == (tl.lanes if calls else 0)


class _Classes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.classes: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "class" and value:
                self.classes.extend(value.split())
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_page_has_a_lane_per_vcpu_a_mark_per_call_and_no_outside_resource() -> None:
    h = race()
    tl = layout(h.records, lanes=4)
    html = page(tl, h.records, "cpu-race")
    parser = _Classes()
    parser.feed(html)
    assert parser.classes.count("lane") == 4
    assert parser.classes.count("mark") == 12
    assert parser.urls == []  # no stylesheet, script or image from elsewhere
    data = json.loads(re.search(r'<script type="application/json" id="calls">(.*?)</script>', html).group(1))
    assert data["calls"]["4"]["out"] == [["x0", "0xfffffffffffffffc"]]  # ALREADY_ON, -4
    assert data["explain"]["0xc4000003"][0].startswith("0xc4000003: PSCI_CPU_ON")
    bare = svg(tl, h.records, standalone=True)
    assert bare.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and bare.count('class="mark') == 12


def test_a_recorded_script_reads_back_as_the_same_picture(tmp_path: Path) -> None:
    """A script entry keeps the effect's name only; CPU_ON's target comes from its x1 (the
    MPIDR, QEMU virt's numbering: CPU n is affinity n below 8)."""
    lines = [json.dumps({"hcdbg": 1, "machine": {"smp": 4}})]
    for n, (vcpu, target, x0, effect) in enumerate([(0, 3, "0x0", "CpuOn"), (1, 3, "0xfffffffffffffffc", None)], 1):
        entry = {"call": n, "vcpu": vcpu, "fid": "0xc4000003",
                 "args": {"x1": hex(target), "x2": "0x40080100", "x3": "0x0"}, "answer": {"x0": x0}}
        if effect:
            entry["effect"] = effect
        lines.append(json.dumps(entry))
    path = tmp_path / "race.calls"
    path.write_text("\n".join(lines) + "\n")
    script = callscript.load(path)
    tl = layout(records_of(script), lanes_of(script))
    assert tl.lanes == 4
    assert [(a.source, a.target) for a in tl.arrows] == [(0, 3)]
    assert [m.label for m in tl.marks] == ["ON(3) ok", "ON(3) ALREADY_ON"]


def test_time_in_instructions_spreads_calls_by_when_they_were_made() -> None:
    """With times (a deterministic run's clock), columns are instructions: vCPU 1 suspends
    at 1000 and is next seen at 61000, so its lane is suspended across that stretch."""
    h = History().cpu_on(0, 1)
    h.call(1, CPU_SUSPEND_64, (0x1_0000, 0x4008_0200, 7), SUCCESS, CpuSuspend(0x4008_0200, 7))
    h.cpu_off(1).call(0, SYSTEM_OFF, (), None, SystemOff())
    tl = layout(h.records, lanes=2, times=[0, 1000, 61000, 63999])
    zoom, span = choose_zoom(tl, 72)
    assert zoom is Zoom.TIME and span == 1000  # 64000 instructions over 72 - len("vCPU 1 ") - 1 columns
    lines = _lines(draw(tl, 72, ASCII))
    lane1 = next(line for line in lines if line.startswith("vCPU 1"))
    columns = lane1[8:]
    assert columns[0] == "v" and columns[1] == "z" and columns[61] == "-"  # CPU_ON, SUSPEND, OFF
    assert columns[2:61] == "~" * 59
    assert all(len(line) <= 72 for line in lines)
    assert layout(h.records, lanes=2).times == ()  # without times: call order
