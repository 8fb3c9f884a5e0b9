"""The timeline as a self-contained page (or a bare SVG): lanes, marks, arrows and a legend, with
each call's decoded form, explanation and registers in/out a click (or a hover) away.

No network: the styles, the script and the call data are all in the one file, so it opens
from disk in any browser. The drawing is SVG made here, so it shows without the script too.
"""
from __future__ import annotations

import html
import json
from collections.abc import Sequence

from hcdbg.render.call_lines import Recorded, record_line
from hcdbg.render.timeline import Power, Timeline
from hcdbg.smccc.decode import arg_names
from hcdbg.smccc.explain import explain_id

CHAR = 7.3  # px per character of the 12px monospace font (an estimate: the page never measures)
LEFT = 72  # the lane names' column
TOP = 34  # above the first lane: call numbers
LANE = 58  # one lane's height
GAP = 10  # between two marks

_STATE_TEXT = {Power.ON: "on", Power.OFF: "off", Power.PENDING: "pending (told it will start)",
               Power.SUSPENDED: "suspended"}

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.2em; margin: 0 0 .3em; }
.layout { display: flex; gap: 1em; align-items: flex-start; }
.picture { overflow-x: auto; flex: 1 1 auto; border: 1px solid #ddd; }
#detail { flex: 0 0 26em; border: 1px solid #ddd; padding: .6em; font-size: 13px; max-height: 80vh; overflow: auto; }
#detail pre { white-space: pre-wrap; margin: .3em 0; }
#detail table { border-collapse: collapse; font-family: monospace; }
#detail td { padding: 0 .6em 0 0; }
svg text { font-family: monospace; font-size: 12px; }
.lane-name { font-weight: bold; fill: #333; }
.seq { fill: #888; font-size: 10px; }
.state-on { fill: #3a9d3a; }
.state-off { fill: #ccc; }
.state-pending { fill: #e0a800; }
.state-suspended { fill: #4a7bd0; }
.mark rect { fill: #fff; stroke: #555; rx: 4; }
.mark.failed rect { stroke: #c62828; fill: #fdecea; }
.mark.failed text { fill: #c62828; }
.mark:hover rect, .mark:focus rect, .mark.selected rect { stroke-width: 2.5; stroke: #000; }
.mark { cursor: pointer; outline: none; }
.arrow { stroke: #8e24aa; stroke-width: 2; fill: none; }
#head path { fill: #8e24aa; }
.barrier { stroke: #c62828; stroke-width: 3; stroke-dasharray: 6 3; }
.barrier-text { fill: #c62828; font-weight: bold; }
.legend text { font-family: system-ui, sans-serif; font-size: 12px; }
"""

SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('calls').textContent);
  var detail = document.getElementById('detail');
  function rows(regs) {
    return regs.map(function (r) { return '<tr><td>' + r[0] + '</td><td>' + r[1] + '</td></tr>'; }).join('');
  }
  function esc(t) { var d = document.createElement('div'); d.textContent = t; return d.innerHTML; }
  function show(mark) {
    var c = data.calls[mark.getAttribute('data-seq')];
    if (!c) { return; }
    document.querySelectorAll('.mark.selected').forEach(function (m) { m.classList.remove('selected'); });
    mark.classList.add('selected');
    detail.innerHTML = '<h2>#' + c.seq + ' on vCPU ' + c.vcpu + '</h2>' +
      '<pre class="line">' + esc(c.line) + '</pre>' +
      (c.effect ? '<p>' + esc(c.effect) + '</p>' : '') +
      '<p>answered by ' + esc(c.by) + ', pc ' + c.pc + '</p>' +
      '<h3>registers in</h3><table>' + rows(c['in']) + '</table>' +
      '<h3>registers out</h3><table>' + (c.out.length ? rows(c.out) : '<tr><td>(none written)</td></tr>') + '</table>' +
      '<h3>explain</h3><pre class="explain">' + esc(data.explain[c.fid].join('\\n')) + '</pre>';
  }
  var marks = Array.prototype.slice.call(document.querySelectorAll('.mark'));
  marks.sort(function (a, b) { return a.getAttribute('data-seq') - b.getAttribute('data-seq'); });
  marks.forEach(function (m, i) {
    m.addEventListener('click', function () { show(m); });
    m.addEventListener('focus', function () { show(m); });
    m.addEventListener('keydown', function (e) {  // left/right: the call before/after in time
      var next = marks[i + (e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0)];
      if (next && next !== m) { e.preventDefault(); next.focus(); }
    });
  });
  // page.html#42 opens with call 42 shown (a link to one moment of the run)
  var wanted = /^#[0-9]+$/.test(location.hash) ? document.querySelector('.mark[data-seq="' + location.hash.slice(1) + '"]') : null;
  var first = wanted || marks[0];
  if (first) { show(first); }
  if (wanted && wanted.scrollIntoView) { wanted.scrollIntoView({inline: 'center', block: 'nearest'}); }
  document.body.setAttribute('data-ready', '1');
})();
"""

#: Counts uncaught errors into the page itself (data-errors), so a test reads them from the DOM.
WATCH = ("window.addEventListener('error', function () { var b = document.body || document.documentElement;"
         " b.setAttribute('data-errors', String(+(b.getAttribute('data-errors') || 0) + 1)); });")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _slots(tl: Timeline) -> list[tuple[float, float]]:
    """(x, width) of each call's mark: as wide as its label or call number."""
    out = []
    x = LEFT + 10.0
    for m in tl.marks:
        w = max(len(m.label), len(f"#{m.seq}")) * CHAR + 10
        out.append((x, w))
        x += w + GAP
    return out


def _lane_y(v: int) -> float:
    return TOP + v * LANE


def svg(tl: Timeline, records: Sequence[Recorded], standalone: bool = False) -> str:
    """The picture as an <svg> element (`standalone`: a whole .svg file with its style)."""
    slots = _slots(tl)
    right = max((slots[-1][0] + slots[-1][1] if slots else LEFT) + 20, 760)
    legend_y = _lane_y(tl.lanes) + 10
    height = legend_y + 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{right:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {right:.0f} {height:.0f}" role="img" aria-label="timeline of {len(tl)} calls">']
    if standalone:
        parts.append(f"<style>{STYLE}</style>")
    parts.append('<defs><marker id="head" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" refX="8" refY="5" orient="auto">'
                 '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>')
    for i, m in enumerate(tl.marks):
        parts.append(f'<text class="seq" x="{slots[i][0]:.1f}" y="{TOP - 14}">#{m.seq}</text>')

    end = (slots[-1][0] + slots[-1][1] if slots else LEFT) + 20

    def x_of(slot: int) -> float:
        return end if slot >= len(slots) else LEFT if slot < 0 else slots[slot][0]

    for v in range(tl.lanes):
        y = _lane_y(v)
        parts.append(f'<g class="lane" data-vcpu="{v}"><text class="lane-name" x="6" y="{y + 30:.0f}">vCPU {v}</text>')
        for span in tl.spans(v):
            x0, x1 = x_of(span.start), x_of(span.end)
            if span.start >= 0:  # after the caller's mark; where the arrow lands on a target
                x0 += slots[span.start][1] if tl.marks[span.start].vcpu == v else 8
            thick = 2 if span.power is Power.OFF else 8
            parts.append(f'<rect class="state state-{span.power.value}" x="{x0:.1f}" y="{y + 26 - thick / 2:.1f}" '
                         f'width="{max(x1 - x0, 0):.1f}" height="{thick}"><title>vCPU {v}: '
                         f'{_esc(_STATE_TEXT[span.power])}</title></rect>')
        for i, m in enumerate(tl.marks):
            if m.vcpu != v:
                continue
            x, w = slots[i]
            cls = "mark failed" if m.failed else "mark"
            parts.append(f'<g class="{cls}" data-seq="{m.seq}" data-vcpu="{v}" tabindex="0">'
                         f'<title>{_esc(f"#{m.seq} " + record_line(records[i]))}</title>'
                         f'<rect x="{x:.1f}" y="{y + 15}" width="{w:.1f}" height="22"/>'
                         f'<text x="{x + 5:.1f}" y="{y + 30}">{_esc(m.label)}</text></g>')
        parts.append("</g>")
    for a in tl.arrows:
        x = slots[a.slot][0] + 8
        down = a.target > a.source
        y0 = _lane_y(a.source) + (37 if down else 15)
        y1 = _lane_y(a.target) + (20 if down else 32)
        parts.append(f'<path class="arrow" data-seq="{a.seq}" d="M{x:.1f},{y0} L{x:.1f},{y1}" marker-end="url(#head)">'
                     f'<title>#{a.seq}: vCPU {a.source} starts vCPU {a.target}</title></path>')
    for b in tl.barriers:
        x = slots[b.slot][0] + slots[b.slot][1] / 2
        parts.append(f'<line class="barrier" x1="{x:.1f}" y1="{TOP - 8}" x2="{x:.1f}" y2="{_lane_y(tl.lanes):.0f}">'
                     f'<title>#{b.seq}: {b.kind} ends the run on every vCPU</title></line>')
    parts.append(_legend(legend_y))
    parts.append("</svg>")
    return "".join(parts)


def _legend(y: float) -> str:
    """The key, in two rows under the lanes."""
    items = [("state-on", 8, "on"), ("state-pending", 8, "pending (told it will start)"),
             ("state-suspended", 8, "suspended"), ("state-off", 2, "off")]
    out = ['<g class="legend">']
    x = 10.0
    for cls, thick, text in items:
        out.append(f'<rect class="{cls}" x="{x:.0f}" y="{y + 10 - thick / 2}" width="28" height="{thick}"/>'
                   f'<text x="{x + 34:.0f}" y="{y + 14}">{text}</text>')
        x += 50 + len(text) * 7
    out.append(f'<path class="arrow" d="M{x:.0f},{y} L{x:.0f},{y + 18}" marker-end="url(#head)"/>'
               f'<text x="{x + 12:.0f}" y="{y + 14}">CPU_ON starts that vCPU</text>')
    y2 = y + 26
    out.append(f'<line class="barrier" x1="10" y1="{y2}" x2="10" y2="{y2 + 18}"/>'
               f'<text x="22" y="{y2 + 14}">SYSTEM_OFF / SYSTEM_RESET: every vCPU</text>'
               f'<rect x="290" y="{y2 + 2}" width="28" height="16" fill="#fdecea" stroke="#c62828"/>'
               f'<text x="324" y="{y2 + 14}">refused (negative return code)</text>')
    out.append(f'<text x="10" y="{y2 + 40}">Time goes right in call order (#N: the call\'s number, '
               'as `calls` shows it).</text>'
               f'<text x="10" y="{y2 + 58}">Hover a call for its line; click it for the details; '
               '← → step through time.</text></g>')
    return "".join(out)


def _registers(regs: Sequence[int], fid: int) -> list[tuple[str, str]]:
    """x0 up to the call's last argument (at least x3), and any other non-zero register."""
    last = max(3, len(arg_names(fid)))
    return [(f"x{n}", f"{v:#x}") for n, v in enumerate(regs) if n <= last or v]


def call_data(records: Sequence[Recorded]) -> dict[str, object]:
    """What the side panel shows, by call number, and `explain`'s text by function ID."""
    calls: dict[str, object] = {}
    explains: dict[str, list[str]] = {}
    for rec in records:
        t = rec.trap
        key = f"{t.fid:#010x}"
        if key not in explains:
            explains[key] = explain_id(t.fid)
        calls[str(rec.seq)] = {
            "seq": rec.seq, "vcpu": t.vcpu, "fid": key, "line": record_line(rec),
            "in": _registers(t.regs, t.fid),
            "out": [(f"x{n}", f"{v:#x}") for n, v in sorted(rec.answer.items())],
            "by": str(rec.source), "pc": f"{t.pc:#x}",
            "effect": rec.effect.describe() if rec.effect is not None else ""}
    return {"calls": calls, "explain": explains}


def page(tl: Timeline, records: Sequence[Recorded], title: str) -> str:
    """A whole HTML page: the picture, a side panel for the selected call, and the data."""
    data = json.dumps(call_data(records), separators=(",", ":")).replace("</", "<\\/")
    summary = (f"{len(tl)} call{'s' if len(tl) != 1 else ''} on {tl.lanes} vCPU"
               f"{'s' if tl.lanes != 1 else ''}. One lane per vCPU, styled by its power state; "
               "each mark is a call with its short name and answer.")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>hcdbg timeline: {_esc(title)}</title><script>{WATCH}</script>"
            f"<style>{STYLE}</style></head>\n<body>"
            f"<h1>hcdbg timeline: {_esc(title)}</h1><p>{_esc(summary)}</p>"
            f'<div class="layout"><div class="picture">{svg(tl, records)}</div>'
            '<aside id="detail">Click a call for its decoded form, registers and explanation.</aside></div>'
            f'<script type="application/json" id="calls">{data}</script>'
            f"<script>{SCRIPT}</script></body></html>\n")
