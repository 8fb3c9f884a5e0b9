"""Teaching and session commands: explain, help, echo, quit."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hcdbg.errors import UsageError
from hcdbg.repl import commands
from hcdbg.repl.commands import Parser, command
from hcdbg.smccc.explain import explain, explain_id
from hcdbg.values import function_or_name

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger

_CATEGORY_TITLES = {
    "running": "Running the guest",
    "calls": "Answering calls",
    "ranges": "Forwarding ranges",
    "inspecting": "Inspecting the guest",
    "teaching": "Learning SMCCC",
    "session": "The session",
}


p = Parser("explain", "Explain a function ID, function name or service.\nA function ID "
           "(0x84000003), a function name (PSCI_CPU_ON, CPU_ON) or a service (psci): its fields, arguments, results and what KVM and "
           "QEMU answer. Without an argument: the call we are stopped at.")
p.arg("what", nargs="?", metavar="FID|NAME", complete="function")


@command(p, category="teaching")
def do_explain(dbg: Debugger, args: argparse.Namespace) -> None:
    if args.what is None:
        pending = dbg.session.pending
        if pending is None:
            raise UsageError("explain what? give a function ID, a name or a service "
                             "(explain PSCI_CPU_ON); without one it explains the call we "
                             "are stopped at")
        lines = explain_id(pending.trap.fid)
    else:
        lines = explain(function_or_name(args.what))
    for text in lines:
        dbg.message(text)


p = Parser("info firmware", "What the built-in handlers answer.\nThe profile (kvm, kvm-6.13, "
           "qemu, tf-a) and what it models, the PSCI and SMCCC versions and how this "
           "configuration differs.")


@command(p, aliases=("info profile",), category="teaching")
def do_info_firmware(dbg: Debugger, args: argparse.Namespace) -> None:
    for text in dbg.session.firmware.describe_profile():
        dbg.message(text)
    dbg.message(dbg.session.call_path())


p = Parser("help", "Show the commands, or how to use COMMAND.")
p.arg("command", nargs="*", metavar="COMMAND", complete="command")


@command(p, category="teaching")
def do_help(dbg: Debugger, args: argparse.Namespace) -> None:
    if args.command:
        cmd, rest = commands.resolve(list(args.command), prefix_default=False)
        if rest:  # gdb: help of a word that is no subcommand is an error, not the help above
            raise UsageError(f'undefined {cmd.name} command: "{rest[0]}".  Try "help {cmd.name}".')
        dbg.message(cmd.help_text())
        return
    for category in commands.CATEGORIES:
        cmds = [c for c in commands.REGISTRY.values() if c.category == category]
        dbg.message(f"{_CATEGORY_TITLES[category]}:", "class:title")
        for c in cmds:
            short = [a for a in c.aliases if " " not in a][:2]
            name = c.name + (f" ({', '.join(short)})" if short else "")
            dbg.message(f"  {name:<26} {c.summary}")
    dbg.message('Type "help COMMAND" for its usage; names may be shortened while they are '
                'unique (cont, disas). Enter repeats stepi/nexti/continue.', "class:hint")


p = Parser("echo", "Print TEXT (for scripts run with -x).")
p.arg("text", nargs="*", metavar="TEXT")


@command(p, category="session")
def do_echo(dbg: Debugger, args: argparse.Namespace) -> None:
    dbg.message(" ".join(args.text).replace("\\n", "\n").rstrip("\n"))


p = Parser("quit", "Leave hcdbg (asks first if the guest is still running).")


@command(p, aliases=("q", "exit"), category="session")
def do_quit(dbg: Debugger, args: argparse.Namespace) -> None:
    from hcdbg.repl.debugger import Quit

    if dbg.in_progress and not dbg.confirm(
            "The guest is still running (it has started and can continue). Quit anyway? "
            "(y or n) ", True):
        dbg.message("Not confirmed.")
        return
    raise Quit()
