"""`hcdbg`'s entry point: parse the command line, run the command, and turn every outcome into
an Exit status; the only place that ends the program with one (console script, `python -m`)."""
from __future__ import annotations

import os
import sys

from hcdbg import guests
from hcdbg.cli.options import ReplayOptions, TimelineOptions, TraceOptions
from hcdbg.cli.outcome import WRITE_ERRNOS, Exit, say
from hcdbg.cli.parse import ArgumentsError, Command, Explain, Finished, ListGuests, parse
from hcdbg.errors import HcdbgError, UsageError


def main(argv: list[str] | None = None) -> Exit:
    """Run `hcdbg ARGV...` (default: sys.argv); every error is reported here, in one line
    (a traceback only with --debug). A Ctrl-C while an error is being reported ends the
    program as Ctrl-C does (130), without a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        if "--debug" in argv:
            raise
        return Exit.INTERRUPTED


def _main(argv: list[str]) -> Exit:
    debug = "--debug" in argv
    try:
        return run(parse(argv))
    except Finished:  # --help, --version
        return Exit.OK
    except ArgumentsError as exc:  # one line like every other error, and where help is
        say(f"{exc} (see '{exc.prog} --help')")
        return Exit.USAGE
    except HcdbgError as exc:
        if debug:
            raise
        say(str(exc))
        return Exit.USAGE if isinstance(exc, UsageError) else Exit.STOPPED
    except KeyboardInterrupt:  # Ctrl-C before the guest ran (a run reports its own stop)
        say("interrupted")
        return Exit.INTERRUPTED
    except BrokenPipeError:  # `hcdbg trace GUEST | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except MemoryError:  # under a memory limit (ulimit -v) too low for the run asked for
        if debug:
            raise
        say("out of memory: give less --mem, or raise the memory limit (ulimit -v)")
        return Exit.USAGE
    except Exception as exc:  # noqa: BLE001 - a bug in hcdbg: one line, traceback on request
        if debug:
            raise
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:  # stdout or -o: not a bug
            _quiet_stdout()
            say(f"cannot write output: {exc.strerror}")
            return Exit.USAGE
        say(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return Exit.INTERNAL


def _quiet_stdout() -> None:
    """If stdout cannot be written (/dev/full), point it at /dev/null so that the flush at
    exit does not fail again with a second message."""
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(command: Command) -> Exit:
    """Run one parsed command (the engine is imported only now: --version and --help stay quick)."""
    if isinstance(command, ListGuests):
        return _list_guests()
    if isinstance(command, Explain):
        return _explain(command.what)
    if isinstance(command, (TraceOptions, ReplayOptions, TimelineOptions)):
        from hcdbg.session.runner import catch_sigint
        catch_sigint()
    if isinstance(command, TraceOptions):
        from hcdbg.cli.trace import trace
        return trace(command)
    if isinstance(command, ReplayOptions):
        from hcdbg.cli.replay import replay
        return replay(command)
    if isinstance(command, TimelineOptions):
        from hcdbg.cli.timeline import timeline
        return timeline(command)
    from hcdbg.cli.launch import build_session
    from hcdbg.repl.app import run_repl
    return Exit(run_repl(command, lambda uart_sink: build_session(command, uart_sink)))


def _explain(what: str) -> Exit:
    """`hcdbg explain WHAT`: a bad name is a UsageError, reported by main (exit 2)."""
    from hcdbg.smccc.explain import explain
    from hcdbg.values import function_or_name
    print("\n".join(explain(function_or_name(what))))
    return Exit.OK


def _list_guests() -> Exit:
    bundled = guests.bundled()
    width = max((len(g.name) for g in bundled), default=0)
    for g in bundled:
        extra = f" (runs on {g.smp} vCPUs)" if g.smp > 1 else ""
        mark = " [default]" if g.name == guests.DEFAULT_GUEST else ""
        print(f"{g.name:<{width}}  {g.description}{extra}{mark}")
    return Exit.OK
