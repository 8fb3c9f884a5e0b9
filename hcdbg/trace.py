"""`hcdbg trace GUEST`: run to the end without a prompt, one line per call, strace-style."""
from __future__ import annotations

import argparse
import sys

from hcdbg.launch import build_session
from hcdbg.machine.machine import StopKind
from hcdbg.render.calls import call_text, conduit_text, record_line
from hcdbg.session.runner import run_interruptible


def trace(args: argparse.Namespace) -> int:
    """Run; exit 0 if the guest powered off, 1 for any other stop, 130 on Ctrl-C."""
    out = args.output.open("w", encoding="utf-8") if args.output else sys.stderr

    def uart(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    session = build_session(args, uart_sink=uart)
    session.on_record = lambda rec: print(record_line(rec), file=out, flush=True)
    machine = session.machine
    while True:
        # --max-insns bounds the whole trace, across guest resets.
        budget = None if args.max_insns is None else max(0, args.max_insns - machine.insns_charged)
        stop = run_interruptible(lambda: session.cont(budget), session.interrupt)
        if stop.kind is StopKind.RESET:
            print(f"[vcpu{stop.vcpu}] --- {stop.reason}: restarting the guest ---", file=out, flush=True)
            continue
        break
    if stop.kind is StopKind.POWER_OFF:
        print(f"+++ {stop.reason}", file=out, flush=True)
        left = session.replay.remaining() if session.replay is not None else 0
        if left:
            msg = f"replay: the guest powered off with {left} recorded call(s) not made"
            print(f"+++ {msg}", file=out, flush=True)
            if out is not sys.stderr:
                print(f"hcdbg: {msg}", file=sys.stderr)
            return 1
        return 0
    if stop.kind is StopKind.CALL and stop.trap is not None:
        t = stop.trap
        print(f"[vcpu{t.vcpu}] {conduit_text(t)} {call_text(t)} = ?  <forwarded>", file=out, flush=True)
        msg = (f"stopped: forwarded call {call_text(t)} on vCPU {t.vcpu} has no one to answer it "
               "(trace has no prompt: use --answer, or run the REPL)")
    else:
        limit = f" (--max-insns {args.max_insns})" if stop.kind is StopKind.MAX_INSNS else ""
        msg = f"stopped: {stop.reason}{limit} (vCPU {stop.vcpu}, pc {stop.pc:#x})"
    print(f"+++ {msg}", file=out, flush=True)
    if out is not sys.stderr:
        print(f"hcdbg: {msg}", file=sys.stderr)
    return 130 if stop.kind is StopKind.INTERRUPT else 1
