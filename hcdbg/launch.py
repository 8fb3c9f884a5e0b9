"""Turn command-line options into a ready Session (shared by `trace`, the REPL and batch)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from hcdbg import guests as G
from hcdbg.errors import UsageError
from hcdbg.handlers.registry import FirmwareConfig
from hcdbg.machine import loader
from hcdbg.machine.machine import MachineConfig
from hcdbg.policy.answers import parse_answer_rule
from hcdbg.policy.filter import Action, parse_range
from hcdbg.session.record import Recorder
from hcdbg.session.replay import Replay
from hcdbg.session.session import Session

_CATCH_NAMES = {"svc": "SVC", "brk": "BRK", "undef": "undefined instruction",
                "iabt": "prefetch abort", "dabt": "data abort"}


def decode_escapes(text: str) -> bytes:
    """`hello\\n` -> b"hello\\n": C-style escapes for UART input given on a command line."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise UsageError(f"--input: bad escape in {text!r} ({exc.reason})") from None


def resolve_guest(name: str | None) -> tuple[Path, int]:
    """A path or bundled guest name -> (path, default vCPU count)."""
    name = name or G.DEFAULT_GUEST
    path = Path(name)
    if not path.exists():
        bundled = G.find(name)
        if bundled is not None:
            return bundled.path, bundled.smp
        if "/" not in name and not name.endswith(".elf"):
            names = ", ".join(g.name for g in G.bundled())
            raise UsageError(f"{name}: no such file or bundled guest (bundled: {names})")
    return path, 1


def build_session(args: argparse.Namespace,
                  uart_sink: Callable[[bytes], None] | None = None) -> Session:
    """Load the guest and configure machine, firmware, filter and answer rules from `args`."""
    path, smp = resolve_guest(args.guest)
    image = loader.load(path, load_addr=args.load, entry=args.entry)
    mcfg = MachineConfig(smp=args.smp if args.smp is not None else smp, ram_size=args.mem,
                         conduit=args.conduit, quantum=max(1, args.quantum),
                         catch={_CATCH_NAMES[c] for c in args.catch}, no_reboot=args.no_reboot,
                         bootargs=args.append)
    if args.psci_version not in ((0, 2), (1, 0), (1, 1), (1, 3)):
        raise UsageError("--psci-version: must be 0.2, 1.0, 1.1 or 1.3")
    if args.smccc_version is not None and args.smccc_version not in ((1, 0), (1, 1), (1, 2)):
        raise UsageError("--smccc-version: must be 1.0, 1.1 or 1.2")
    fcfg = FirmwareConfig(profile=args.profile, psci_version=args.psci_version,
                          smccc_version=args.smccc_version, conduit=args.conduit, seed=args.seed)
    replay = Replay(args.replay) if args.replay else None  # read before --record may append
    recorder = Recorder(args.record) if args.record else None
    session = Session(image, mcfg, fcfg, uart_sink=uart_sink, recorder=recorder)
    session.replay = replay
    if args.input:
        session.machine.uart.feed(decode_escapes(args.input))
    session.filter.set_default(Action(args.default))
    for option, action in (("forward", Action.FORWARD), ("deny", Action.DENY), ("handle", Action.HANDLE)):
        for text in getattr(args, option):
            for base, count in parse_range(text):
                session.filter.add(base, count, action)
    for text in args.answer:
        session.rules.add(parse_answer_rule(text))
    return session
