"""`hcdbg replay SCRIPT [GUEST]`: check a guest's calls against a call script, without a prompt."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hcdbg.errors import UsageError
from hcdbg.launch import apply_header, build_session
from hcdbg.machine.machine import StopKind
from hcdbg.render.calls import divergence_lines, entry_text, record_line
from hcdbg.session import script as S
from hcdbg.session.record import sha256
from hcdbg.session.replay import Replay
from hcdbg.trace import run_to_end, stop_message, uart_to_stdout


def _guest(args: argparse.Namespace, script: S.Script) -> str | None:
    """GUEST if given, else the header's guest: its path if it still exists, else the
    bundled guest it named."""
    if args.guest:
        return str(args.guest)
    if getattr(args, "bios", None) is not None:
        return None  # --bios (given, or from the header) is the guest
    guest = script.header.get("guest", {})
    path, name = guest.get("path"), guest.get("name")
    if isinstance(path, str) and Path(path).exists():
        return path
    if isinstance(name, str):
        return name
    if isinstance(path, str):
        raise UsageError(f"{script.path}: the recorded guest {path} does not exist here: give GUEST")
    raise UsageError(f"{script.path}: the script names no guest (no header): give GUEST")


def replay(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Exit 0 if the guest made exactly the script's calls, 1 if not, 130 on Ctrl-C
    (a bad script raises ScriptError: exit 2)."""
    script = S.load(args.script)
    apply_header(args, script.header, parser.get_default)
    args.guest = _guest(args, script)
    recorded = script.header.get("guest", {}).get("sha256")
    session = build_session(args, uart_sink=uart_to_stdout)
    actual = sha256(Path(session.options["guest"]["path"])) if recorded else None
    if recorded and actual and recorded != actual:
        print(f"hcdbg: warning: {session.options['guest']['path']} is not the recorded guest "
              f"(SHA-256 {actual[:12]}..., "
              f"recorded {recorded[:12]}...)", file=sys.stderr)
    verbose = args.verbose or args.output is not None
    out = (args.output.open("w", encoding="utf-8") if args.output else sys.stderr) if verbose else None
    if out is not None:
        session.on_record = lambda rec: print(record_line(rec), file=out, flush=True)
    rep = Replay(script, ignore_args=args.ignore_args, any_vcpu_order=args.any_vcpu_order)
    session.start_replay(rep)
    stop = run_to_end(session, args.max_insns, out)
    if session.divergence is not None:
        _say(divergence_lines(session.divergence, session.history))
        return 1
    if stop.kind is StopKind.INTERRUPT:
        _say([f"interrupted after {rep.matched} of the script's {len(script.entries)} calls"])
        return 130
    ended = stop.reason if stop.kind is StopKind.POWER_OFF else stop_message(stop, args.max_insns)
    left = rep.remaining()
    if left:
        first = left[0]
        _say([f"replay: the guest ended ({ended}) with {len(left)} call(s) of the script not made; "
              f"next: entry {first.index} (line {first.line}) {entry_text(first)}"])
        return 1
    _say([f"replay: the guest made the script's {rep.matched} call(s) as scripted; {ended}"])
    return 0


def _say(lines: list[str]) -> None:
    for line in lines:
        print(f"hcdbg: {line}" if not line.startswith(" ") else line, file=sys.stderr)
