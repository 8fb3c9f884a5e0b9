"""`hcdbg timeline SCRIPT|GUEST`: a recorded call script, or a run of a guest, drawn as lanes."""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from hcdbg.cli.launch import build_session
from hcdbg.cli.options import TimelineOptions
from hcdbg.cli.outcome import Exit, say
from hcdbg.cli.trace import run_to_end, stop_message
from hcdbg.render.call_lines import Recorded
from hcdbg.render.timeline_text import draw
from hcdbg.repl.commands.timeline import charset_for, select, write_page
from hcdbg.repl.console import Console
from hcdbg.session import callscript
from hcdbg.session.script_history import lanes_of, records_of
from hcdbg.stop import StopKind

#: How long a guest may run when --max-insns does not say (a guest that resets forever).
DEFAULT_MAX_INSNS = 200_000_000


def is_script(source: str) -> bool:
    """A call script (JSON lines: its first line that is not blank starts with { or #), not a
    guest image or a bundled guest's name."""
    path = Path(source)
    if not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            head = f.read(4096).lstrip()
    except OSError:
        return False
    return head[:1] in (b"{", b"#")


def _from_script(path: Path) -> tuple[list[Recorded], int]:
    script = callscript.load(path)
    return list(records_of(script)), lanes_of(script)


def _from_run(opts: TimelineOptions) -> tuple[list[Recorded], int, list[int]]:
    """Run the guest to its end (deterministic: the same picture every time); its records,
    and with --time insns when each call was made (the instruction-counted clock, which a
    guest reset puts back to 0: the times go on from where they were)."""
    run_opts = replace(opts, guest=opts.source, deterministic=True)
    session = build_session(run_opts, uart_sink=lambda _data: None)
    raw: list[int] = []
    if opts.time == "insns":
        counter = session.machine.irq
        session.on_record = lambda _rec: raw.append(counter.counter.now())
    limit = opts.max_insns if opts.max_insns is not None else DEFAULT_MAX_INSNS
    stop = run_to_end(session, limit, None)
    if stop.kind is StopKind.CALL:
        say("stopped at a forwarded call, which nobody answers without a prompt (use --answer, or "
            "the REPL's timeline); drawing the calls before it")
    elif stop.kind is not StopKind.POWER_OFF:
        say(f"the guest did not power off; drawing its calls so far ({stop_message(stop, limit)})")
    return list(session.history), len(session.machine.vcpus), _monotonic(raw)


def _monotonic(raw: list[int]) -> list[int]:
    """Clock readings made to never go back: after a drop (a reset) they go on from the last."""
    out: list[int] = []
    offset = 0
    for t in raw:
        if out and t + offset < out[-1]:
            offset = out[-1] - t
        out.append(t + offset)
    return out


def timeline(opts: TimelineOptions) -> Exit:
    """Draw, or write the page; OK once drawn (a run that did not power off is said on stderr)."""
    if opts.html is not None and opts.svg is not None:
        say("give one of --html FILE and --svg FILE")
        return Exit.USAGE
    if opts.width is not None and opts.width < 20:
        say(f"--width {opts.width}: expected 20 columns or more")
        return Exit.USAGE
    times: list[int] = []
    if is_script(opts.source):
        if opts.time == "insns":
            say(f"--time insns: {opts.source} is a call script, which records no instruction "
                "counts; give the guest to run instead")
            return Exit.USAGE
        records, lanes = _from_script(Path(opts.source))
    else:
        records, lanes, times = _from_run(opts)
    tl, records = select(records, lanes, opts.calls, times)
    out = opts.html or opts.svg
    if out is not None:
        print(write_page(tl, records, out, Path(opts.source).name, bare_svg=opts.svg is not None))
        return Exit.OK
    width = opts.width
    if width is None:
        width = os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 80
    color = sys.stdout.isatty() and not opts.no_color and "NO_COLOR" not in os.environ
    Console(sys.stdout, color).write(draw(tl, width, charset_for(sys.stdout)) if len(tl) else [("", "No calls.\n")])
    return Exit.OK
