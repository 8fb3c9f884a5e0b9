"""Call scripts at the prompt: record the calls from now on, replay a script's answers."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hcdbg.errors import UsageError
from hcdbg.repl.commands import Parser, command
from hcdbg.session import callscript
from hcdbg.session.replayer import Replay

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger

p = Parser("record", "Record every call answered from now on into a call script.\n"
           "'record FILE' starts (a header with the guest, machine, firmware and ranges, then "
           "one JSON line per call, each written as it happens); 'record stop' ends it; "
           "'record' says where it goes. An existing FILE is kept unless -f is given; a "
           "refused FILE leaves a recording already running as it was. The header keeps the "
           "TRNG's seed (one is chosen if --seed gave none) so a replay repeats its random "
           "numbers. 'hcdbg replay FILE' replays it.",
           usage="record [-f] FILE | record stop | record")
p.arg("-f", "--force", action="store_true", help="overwrite FILE if it exists")
p.arg("file", nargs="?", metavar="FILE", complete="file")


@command(p, category="calls")
def do_record(dbg: Debugger, args: argparse.Namespace) -> None:
    session = dbg.session
    if args.file is None:
        rec = session.recorder
        dbg.message(f"recording to {rec.path} ({rec.calls} call(s) so far)" if rec is not None
                    else "not recording ('record FILE' starts)")
        return
    if args.file == "stop":
        path = session.stop_recording()
        if path is None:
            raise UsageError("not recording: 'record FILE' starts a recording")
        dbg.message(f"recording stopped: {path}")
        return
    old = session.recorder.path if session.recorder is not None else None
    rec = session.start_recording(Path(args.file), overwrite=args.force)
    dbg.message(f"recording calls to {rec.path}" + (f" (recording to {old} stopped)" if old else ""))


p = Parser("replay", "Answer calls from a call script, checking each is the call the script "
           "has next.\nWhen the guest makes another call, the replay ends there and the call "
           "is stopped at the prompt for you to answer. An entry without an answer is "
           "answered by the built-in handler. 'replay stop' ends a replay; 'replay' shows how "
           "far it got.",
           usage="replay [--ignore-args] [--any-vcpu-order] SCRIPT | replay stop | replay")
p.arg("--ignore-args", action="store_true", help="do not check the calls' arguments")
p.arg("--any-vcpu-order", action="store_true", help="each vCPU in order, interleaving free")
p.arg("script", nargs="?", metavar="SCRIPT", complete="file")


@command(p, category="calls")
def do_replay(dbg: Debugger, args: argparse.Namespace) -> None:
    session = dbg.session
    rep = session.replay
    if args.script is None:
        if rep is None:
            dbg.message("not replaying ('replay SCRIPT' starts)")
        else:
            dbg.message(f"replaying {rep.script.path}: {rep.matched} call(s) matched, "
                        f"{len(rep.remaining())} to go")
        return
    if args.script == "stop":
        if rep is None:
            raise UsageError("not replaying: 'replay SCRIPT' starts a replay")
        session.stop_replay()
        dbg.message(f"replay of {rep.script.path} stopped after {rep.matched} call(s); "
                    "the ranges decide again")
        return
    script = callscript.load(Path(args.script))
    session.start_replay(Replay(script, ignore_args=args.ignore_args,
                                any_vcpu_order=args.any_vcpu_order))
    dbg.message(f"replaying {len(script.entries)} call(s) from {script.path}: 'c' runs the guest")
    if session.pending is not None:
        dbg.message("    the call stopped at now is answered as you choose; the script starts "
                    "with the next one", "class:hint")
