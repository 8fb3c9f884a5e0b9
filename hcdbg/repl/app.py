"""`hcdbg [GUEST]`: the prompt_toolkit REPL, and its batch mode (-ex, -x, --batch)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from hcdbg import __version__
from hcdbg.errors import HcdbgError, UsageError
from hcdbg.files import read_file
from hcdbg.session.callscript import SCRIPT_MAX
from hcdbg.policy.ranges import Action
from hcdbg.render.context import where
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger, Quit
from hcdbg.render.style import STYLE

if TYPE_CHECKING:  # the command line builds the session; the REPL only runs it
    from hcdbg.cli.options import ReplOptions
    from hcdbg.session.session import Session


def history_path() -> Path:
    """$XDG_STATE_HOME/hcdbg/history (default ~/.local/state/hcdbg/history)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "hcdbg" / "history"


def banner(dbg: Debugger, args: ReplOptions) -> list[str]:
    """What the user sees first: the guest, the machine, the firmware, how to go on."""
    s = dbg.session
    image = s.machine.image
    n = len(s.machine.vcpus)
    fw = s.firmware.describe_profile()
    forwarded = sum(1 for r in s.filter.entries() if r.action is Action.FORWARD)
    lines = [
        f"hcdbg {__version__}: guest {args.guest or image.path.stem} ({image.path}, {image.kind}), "
        f"entry {where(image.symbols, image.entry)}",
        f"{n} vCPU{'s' if n != 1 else ''}, {s.machine.config.ram_size >> 20} MiB RAM, PSCI "
        f"conduit {s.machine.config.conduit.upper()}; firmware: {fw[0]}" + (f"; {fw[1]}" if len(fw) > 1 else ""),
        f"ranges: {len(s.filter.entries())} ({forwarded} forwarded), default {s.filter.default.value}"
        + ("" if forwarded or s.filter.default is Action.FORWARD else
           " -- nothing stops yet: 'filter add psci forward' or 'catch hvc'"),
        "The guest is loaded and stopped at its entry point. Type 'c' to run it, 'help' for "
        "the commands, 'explain NAME' to learn about a call.",
    ]
    missing = s.missing_native()
    if missing is not None:
        lines.insert(-1, f"note: no native call path ({missing}): calls are answered in Python, "
                         "slower, with the same results ('info firmware')")
    return lines


def toolbar(dbg: Debugger) -> str:
    """The bottom toolbar: selected vCPU, state, ranges."""
    s = dbg.session
    v = dbg.vcpu
    pending = s.pending
    if dbg.elsewhere is not None:
        state = dbg.elsewhere
    elif pending is not None:
        state = (f"at {dbg.pending_text()}: reply, handle or deny" if pending.answer is None
                 else f"at {dbg.pending_text()}: answer ({pending.source}) ready, c resumes")
    elif not dbg.current_run.started:
        state = "not started: c runs the guest"
    elif s.last_stop is not None and not s.last_stop.resumable:
        state = f"{s.last_stop.kind.value}: run restarts"
    else:
        state = f"stopped ({s.last_stop.kind.value})" if s.last_stop else "stopped"
    forwarded = sum(1 for r in s.filter.entries() if r.action is Action.FORWARD)
    return (f" vCPU {v.index} {v.state.name.lower()} | {state} | {forwarded} forwarded "
            f"range{'s' if forwarded != 1 else ''}, default {s.filter.default.value} ")


def script_lines(path: Path) -> list[str]:
    """The command lines of a -x file (comments and blank lines are skipped when run)."""
    data = read_file(path, "-x ", SCRIPT_MAX, "the 1 GiB hcdbg reads a command file into",
                     regular=False, empty=True, error=UsageError)
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UsageError(f"-x {path}: not UTF-8 text (byte {exc.start})") from None


def run_lines(dbg: Debugger, lines: Iterable[str], stop_on_error: bool) -> bool:
    """Run command lines without a prompt (blank lines do not repeat); True if all succeeded.
    Quit propagates."""
    for raw in lines:
        line = raw.strip()
        if line and not line.startswith("#") and not dbg.onecmd(line) and stop_on_error:
            return False
    return True


def _yes(answer: str) -> bool:
    return answer.strip().lower() in ("y", "yes")


def run_repl(args: ReplOptions, make_session: Callable[[Callable[[bytes], None]], Session]) -> int:
    """Build the session (`make_session(uart_sink)`, from the command line's options), run -x files and -ex commands, then (without --batch)
    the prompt. Returns the exit status: 1 if a batch command failed, else 0."""
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    color = tty and not args.no_color and not args.batch and "NO_COLOR" not in os.environ
    console = Console(sys.stdout, color, sys.stderr if args.batch else None)
    session = make_session(console.uart)
    ask = None if args.batch or not tty else _ask_tty
    dbg = Debugger(session, console, ask=ask, debug=args.debug, max_insns=args.max_insns)
    listener = None
    if args.gdb is not None:  # before anything is printed: a port in use is the one line
        from hcdbg.gdb.server import Stub, open_listener
        listener = open_listener(args.gdb)
    for text in banner(dbg, args):
        dbg.message(text, "class:hint")
    if listener is not None:
        sock, where, warnings = listener
        for text in warnings:
            dbg.error(text)
        Stub(sock, dbg)
        dbg.message(f"gdb: listening on {where}: 'target remote {where}' in gdb-multiarch; "
                    "'monitor CMD' there runs hcdbg commands", "class:hint")
    try:
        for path in args.scripts:
            try:
                lines = script_lines(path)
            except HcdbgError as exc:
                dbg.error(str(exc))
                dbg.failures += 1
                continue
            run_lines(dbg, lines, stop_on_error=True)
        run_lines(dbg, args.ex, stop_on_error=False)
        if not args.batch:
            if tty:
                _prompt_loop(dbg, color)
            else:
                _plain_loop(dbg)
    except Quit:
        pass
    finally:
        console.flush()
        if session.recorder is not None:
            session.recorder.close()
    return 1 if args.batch and dbg.failures else 0


def _ask_tty(question: str) -> bool:
    from prompt_toolkit import prompt

    try:
        return _yes(prompt(question))
    except (KeyboardInterrupt, EOFError):
        return False


def _plain_loop(dbg: Debugger) -> None:
    """Commands from a pipe: no line editing; questions take their batch answer."""
    while True:
        sys.stdout.write("(hcdbg) ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            sys.stdout.write("\n")
            return
        dbg.onecmd(line)


def _prompt_loop(dbg: Debugger, color: bool, pt_input=None, pt_output=None) -> None:  # noqa: ANN001
    """The interactive loop (`pt_input`/`pt_output`: prompt_toolkit I/O for headless tests)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.output.color_depth import ColorDepth
    from prompt_toolkit.styles import Style

    from hcdbg.repl.completer import CommandCompleter

    history: History
    try:
        path = history_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # a shell's mode
        history = FileHistory(str(path))
    except OSError:
        history = InMemoryHistory()  # a read-only home must not stop the debugger
    style = Style.from_dict({k: v for k, v in STYLE.items() if v}) if color else None
    prompt: PromptSession[str] = PromptSession(
        history=history,
        completer=CommandCompleter(dbg),
        complete_while_typing=False,
        bottom_toolbar=lambda: toolbar(dbg),
        style=style,
        color_depth=None if color else ColorDepth.MONOCHROME,
        enable_suspend=True,
        # With the gdb stub, gdb may stop or move the guest while the prompt waits: redraw
        # the toolbar twice a second so that it shows.
        refresh_interval=0.5 if dbg.guard is not None else 0,
        input=pt_input,
        output=pt_output,
    )
    while True:
        try:
            line = prompt.prompt([("class:prompt", "(hcdbg) ")])
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:  # Ctrl-D
            if dbg.in_progress and not dbg.confirm(
                    "The guest is still running (it has started and can continue). Quit "
                    "anyway? (y or n) ", True):
                continue
            dbg.message("quit")
            return
        dbg.onecmd(line)
