"""`hcdbg replay SCRIPT [GUEST]`: check a guest's calls against a call script, without a prompt
(the replaying itself is hcdbg.session.replayer's; this is the command around it)."""
from __future__ import annotations

import sys
from dataclasses import replace

from hcdbg import guests
from hcdbg.cli.launch import build_session
from hcdbg.cli.options import ReplayOptions
from hcdbg.cli.outcome import Exit, open_output, say
from hcdbg.cli.trace import exit_for, run_to_end, stop_message, uart_to_stdout
from hcdbg.errors import UsageError
from hcdbg.stop import StopKind
from hcdbg.render.call_lines import divergence_lines, entry_text, record_line
from hcdbg.session import callscript
from hcdbg.session.record import sha256
from hcdbg.session.replayer import Replay

DIVERGENCE_CONTEXT = 3  # matched calls a divergence report shows before it
#: Instructions the guest may run after the script's last call: a guest that makes no further
#: call (nor powers off) by then is not the recorded one (it may wait for a CPU the replay
#: could not start); without the limit the replay would wait forever.
AFTER_SCRIPT = 100_000_000
PAST_SCRIPT = f"no call in the {AFTER_SCRIPT:,} instructions after the script's last call"


def _guest(opts: ReplayOptions, script: callscript.Script) -> str | None:
    """GUEST if given, else the header's guest: its path if it still exists, else the
    bundled guest it named."""
    if opts.guest:
        return opts.guest
    if opts.bios is not None:
        return None  # --bios (given, or from the header) is the guest
    guest = script.header.get("guest", {})
    path, name = guest.get("path"), guest.get("name")
    if isinstance(path, str) and guests.file_exists(path):
        return path
    if isinstance(name, str):
        return name
    if isinstance(path, str):
        raise UsageError(f"{script.path}: the recorded guest {path} does not exist here: give GUEST")
    raise UsageError(f"{script.path}: the script names no guest (no header): give GUEST")


def replay(opts: ReplayOptions) -> Exit:
    """OK if the guest made exactly the script's calls, STOPPED if not, INTERRUPTED on Ctrl-C
    (a bad script raises ScriptError, a UsageError)."""
    script = callscript.load(opts.script)
    opts = opts.with_header(script.header)
    opts = replace(opts, guest=_guest(opts, script))
    recorded = script.header.get("guest", {}).get("sha256")
    session = build_session(opts, uart_sink=uart_to_stdout)
    session.keep_recent_calls(DIVERGENCE_CONTEXT)  # the calls a divergence report shows
    path = session.machine.image.path.resolve()
    actual = sha256(path) if recorded else None
    if recorded and actual and recorded != actual:
        say(f"warning: {path} is not the recorded guest (SHA-256 {actual[:12]}..., recorded {recorded[:12]}...)")
    verbose = opts.verbose or opts.output is not None
    out = (open_output(opts.output, "-o") if opts.output else sys.stderr) if verbose else None
    if out is not None:
        session.on_record = lambda rec: print(record_line(rec), file=out, flush=True)
    rep = Replay(script, ignore_args=opts.ignore_args, any_vcpu_order=opts.any_vcpu_order)
    session.after_script = (AFTER_SCRIPT, PAST_SCRIPT)
    session.start_replay(rep)
    try:
        stop = run_to_end(session, opts.max_insns, out)
    finally:
        session.stop_recording()  # --record: cut the file at its last line
    if session.divergence is not None:
        say(*divergence_lines(session.divergence, session.history[-DIVERGENCE_CONTEXT:]))
        return Exit.STOPPED
    if stop.kind is StopKind.MAX_INSNS and stop.reason == PAST_SCRIPT:
        say(f"replay diverged: the guest made the script's {rep.matched} call(s), then "
            f"{PAST_SCRIPT} (vCPU {stop.vcpu}, pc {stop.pc:#x})")
        return Exit.STOPPED
    if stop.kind is StopKind.INTERRUPT:
        say(f"interrupted after {rep.matched} of the script's {len(script.entries)} calls")
        return exit_for(stop)
    ended = stop.reason if stop.kind is StopKind.POWER_OFF else stop_message(stop, opts.max_insns)
    left = rep.remaining()
    if left:
        first = left[0]
        say(f"replay: the guest ended ({ended}) with {len(left)} call(s) of the script not made; "
            f"next: entry {first.index} (line {first.line}) {entry_text(first)}")
        return Exit.STOPPED
    say(f"replay: the guest made the script's {rep.matched} call(s) as scripted; {ended}")
    return Exit.OK
