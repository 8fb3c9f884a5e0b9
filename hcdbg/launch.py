"""Turn command-line options into a ready Session (shared by `trace`, the REPL and batch)."""
from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any, Callable

from hcdbg import guests as G
from hcdbg.errors import UsageError
from hcdbg.handlers.registry import FirmwareConfig
from hcdbg.machine import fdt, loader
from hcdbg.machine.machine import MachineConfig
from hcdbg.policy.answers import parse_answer_rule
from hcdbg.policy.filter import Action, parse_range
from hcdbg.session import script as S
from hcdbg.session.replay import Replay
from hcdbg.session.session import Session

_CATCH_NAMES = {"svc": "SVC", "brk": "BRK", "undef": "undefined instruction",
                "iabt": "prefetch abort", "dabt": "data abort"}


def decode_escapes(text: str) -> bytes:
    """`hello\\n` -> b"hello\\n": C-style escapes for UART input given on a command line."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise UsageError(f"--uart-input/--input: bad escape in {text!r} ({exc.reason})") from None


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


def load_guest(args: argparse.Namespace) -> tuple[Path, int, loader.Image]:
    """(path, default vCPU count, image) of GUEST, or of --bios FILE (QEMU's -bios: no GUEST)."""
    bios = getattr(args, "bios", None)
    if bios is None:
        path, smp = resolve_guest(args.guest)
        return path, smp, loader.load(path, load_addr=args.load, entry=args.entry, ram_size=args.mem)
    if args.guest is not None:  # QEMU would hand the kernel to the firmware through fw_cfg
        raise UsageError(f"--bios runs firmware from flash; give it without a GUEST ({args.guest}): "
                         "hcdbg's board has no fw_cfg to pass a kernel to the firmware")
    if args.load is not None or args.entry is not None:
        raise UsageError("--bios: the firmware is placed at 0 and started there; drop --load/--entry")
    return bios, 1, loader.load_firmware(bios)


def _boot_files(args: argparse.Namespace) -> tuple[bytes | None, bytes | None, str]:
    """--initrd and --dtb contents, and the PSCI conduit: --conduit, else the --dtb tree's
    /psci method, else hvc (QEMU virt's)."""
    initrd = loader.read_file(args.initrd, "--initrd ") if getattr(args, "initrd", None) else None
    dtb, method = None, None
    if getattr(args, "dtb", None):
        dtb = loader.read_file(args.dtb, "--dtb ")
        fdt.check_dtb(dtb, args.dtb)
        method = fdt.psci_method(dtb)
        if method is not None and method not in ("hvc", "smc"):
            raise UsageError(f"--dtb {args.dtb}: /psci method is \"{method}\"; hcdbg answers \"hvc\" or \"smc\"")
        if method is not None and args.conduit is not None and args.conduit != method:
            raise UsageError(f"--conduit {args.conduit} contradicts --dtb {args.dtb}, whose /psci says "
                             f"method = \"{method}\" (the guest follows the tree): drop one")
    return initrd, dtb, args.conduit or method or "hvc"


def build_session(args: argparse.Namespace,
                  uart_sink: Callable[[bytes], None] | None = None) -> Session:
    """Load the guest and configure machine, firmware, filter and answer rules from `args`."""
    seed_recording(args)
    path, smp, image = load_guest(args)
    initrd, dtb, conduit = _boot_files(args)
    mcfg = MachineConfig(smp=args.smp if args.smp is not None else smp, ram_size=args.mem,
                         conduit=conduit, quantum=max(1, args.quantum),
                         timeslice=0 if args.deterministic else MachineConfig.timeslice,
                         catch={_CATCH_NAMES[c] for c in args.catch}, no_reboot=args.no_reboot,
                         bootargs=args.append, initrd=initrd, dtb=dtb)
    if args.psci_version not in ((0, 2), (1, 0), (1, 1), (1, 3)):
        raise UsageError("--psci-version: must be 0.2, 1.0, 1.1 or 1.3")
    if args.smccc_version is not None and args.smccc_version not in ((1, 0), (1, 1), (1, 2)):
        raise UsageError("--smccc-version: must be 1.0, 1.1 or 1.2")
    fcfg = FirmwareConfig(profile=args.profile, psci_version=args.psci_version,
                          smccc_version=args.smccc_version, conduit=conduit, seed=args.seed)
    replay_path = getattr(args, "replay", None)
    replay = Replay(S.load(replay_path)) if replay_path else None  # read before --record writes
    session = Session(image, mcfg, fcfg, uart_sink=uart_sink)
    session.options = options(args, path, mcfg.smp)
    if replay is not None:
        session.start_replay(replay)
    if args.input:
        session.machine.uart.feed(decode_escapes(args.input))
    session.filter.set_default(Action(args.default))
    for option, action in (("forward", Action.FORWARD), ("deny", Action.DENY), ("handle", Action.HANDLE)):
        for text in getattr(args, option):
            for base, count in parse_range(text):
                session.filter.add(base, count, action)
    for text in args.answer:
        session.rules.add(parse_answer_rule(text))
    if args.record:
        session.start_recording(args.record, overwrite=args.overwrite)
    return session


#: Options a call script's header keeps, so a replay rebuilds the same machine and firmware.
MACHINE_OPTIONS = ("smp", "mem", "conduit", "load", "entry", "quantum", "catch", "append",
                   "no_reboot", "input", "bios", "initrd", "dtb")
FIRMWARE_OPTIONS = ("profile", "psci_version", "smccc_version", "seed")
_VERSIONS = ("psci_version", "smccc_version")
_PATHS = ("bios", "initrd", "dtb")
_TYPES: dict[str, tuple[type, ...]] = {
    "smp": (int,), "mem": (int,), "load": (int,), "entry": (int,), "quantum": (int,), "seed": (int,),
    "catch": (list,), "no_reboot": (bool,), "psci_version": (str,), "smccc_version": (str,)}


def _json(key: str, value: Any) -> Any:
    if key in _VERSIONS and value is not None:
        return f"{value[0]}.{value[1]}"
    return str(value) if isinstance(value, Path) else value


def options(args: argparse.Namespace, guest: Path, smp: int) -> dict[str, Any]:
    """The guest, machine and firmware options of `args`, as a script header keeps them."""
    machine = {k: _json(k, getattr(args, k)) for k in MACHINE_OPTIONS if hasattr(args, k)}
    machine["smp"] = smp
    head: dict[str, Any] = {"path": str(guest.resolve())}  # sha256 added when a recording starts
    if getattr(args, "bios", None) is None:
        name = args.guest or G.DEFAULT_GUEST
        bundled = G.find(name) if not Path(name).exists() else None
        if bundled is not None:
            head["name"] = bundled.name  # a bundled guest is found by name on another checkout
    return {"guest": head,
            "machine": machine,
            "firmware": {k: _json(k, getattr(args, k)) for k in FIRMWARE_OPTIONS if hasattr(args, k)}}


def seed_recording(args: argparse.Namespace) -> None:
    """A recorded run gets a TRNG seed (kept in the script's header) so replays repeat it."""
    if args.record and args.seed is None:
        args.seed = random.getrandbits(32)


def apply_header(args: argparse.Namespace, head: dict[str, Any], default: Callable[[str], Any]) -> None:
    """Take the script header's machine and firmware options for every option `args` left at
    its default, `default(name)` (options given on the command line win)."""
    for section, keys in (("machine", MACHINE_OPTIONS), ("firmware", FIRMWARE_OPTIONS)):
        values = head.get(section, {})
        for key in keys:
            if key not in values or not hasattr(args, key) or getattr(args, key) != default(key):
                continue
            value = values[key]
            kinds = _TYPES.get(key, (str,))
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds):
                raise UsageError(f"script header: {section}.{key} = {value!r}: expected "
                                 f"{' or '.join(k.__name__ for k in kinds)}")
            if key == "catch" and not set(value) <= set(_CATCH_NAMES):
                raise UsageError(f"script header: machine.catch = {value!r}: expected a list of "
                                 f"{', '.join(_CATCH_NAMES)}")
            try:
                if key in _VERSIONS and value is not None:
                    major, minor = str(value).split(".")
                    value = (int(major), int(minor))
                elif key in _PATHS and value is not None:
                    value = Path(value)
            except ValueError:
                raise UsageError(f"script header: {section}.{key} = {value!r} is not a version like 1.1") from None
            setattr(args, key, value)
