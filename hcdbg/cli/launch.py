"""Options -> a ready Session: find and load the guest, configure machine, firmware, filter
and answer rules (shared by `trace`, `replay`, the REPL and its batch mode)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from hcdbg import files, guests
from hcdbg.cli.options import Options
from hcdbg.errors import UsageError
from hcdbg.machine.exceptions import CATCH_NAMES
from hcdbg.handlers.config import MODELS, PROFILE_PSCI_VERSIONS, version_list
from hcdbg.handlers.registry import FirmwareConfig
from hcdbg.machine import fdt, loader
from hcdbg.machine.machine import MachineConfig
from hcdbg.policy.answers import parse_answer_rule
from hcdbg.policy.ranges import Action, parse_range
from hcdbg.session import callscript
from hcdbg.session.replayer import Replay
from hcdbg.session.session import Session
from hcdbg.values import decode_escapes


def resolve_guest(name: str | None) -> tuple[Path, int]:
    """A path or bundled guest name -> (path, default vCPU count)."""
    name = name or guests.DEFAULT_GUEST
    path = Path(name)
    if not guests.file_exists(name):
        bundled = guests.find(name)
        if bundled is not None:
            return bundled.path, bundled.smp
        if "/" not in name and not name.endswith(".elf"):
            names = ", ".join(g.name for g in guests.bundled())
            raise UsageError(f"{name}: no such file or bundled guest (bundled: {names})")
    return path, 1


def load_guest(opts: Options) -> tuple[Path, int, loader.Image]:
    """(path, default vCPU count, image) of GUEST, or of --bios FILE (QEMU's -bios: no GUEST)."""
    if opts.bios is None:
        path, smp = resolve_guest(opts.guest)
        return path, smp, loader.load(path, load_addr=opts.load, entry=opts.entry, ram_size=opts.mem)
    if opts.guest is not None:  # QEMU would hand the kernel to the firmware through fw_cfg
        raise UsageError(f"--bios runs firmware from flash; give it without a GUEST ({opts.guest}): "
                         "hcdbg's board has no fw_cfg to pass a kernel to the firmware")
    if opts.load is not None or opts.entry is not None:
        raise UsageError("--bios: the firmware is placed at 0 and started there; drop --load/--entry")
    return opts.bios, 1, loader.load_firmware(opts.bios)


def _boot_files(opts: Options) -> tuple[bytes | None, bytes | None, str]:
    """--initrd and --dtb contents, and the PSCI conduit: --conduit, else the --dtb tree's
    /psci method, else hvc (QEMU virt's)."""
    initrd = files.read_file(opts.initrd, "--initrd ", opts.mem) if opts.initrd else None
    dtb, method = None, None
    if opts.dtb and opts.idle_states:
        raise UsageError(f"--idle-states adds idle states to hcdbg's own device tree; --dtb {opts.dtb} "
                         "is used as given: put them in its /cpus/idle-states, or drop --dtb")
    if opts.dtb:
        dtb = files.read_file(opts.dtb, "--dtb ", opts.mem)
        fdt.check_dtb(dtb, opts.dtb)
        method = fdt.psci_method(dtb, opts.dtb)
        if method is not None and method not in ("hvc", "smc"):
            raise UsageError(f"--dtb {opts.dtb}: /psci method is \"{method}\"; hcdbg answers \"hvc\" or \"smc\"")
        if method is not None and opts.conduit is not None and opts.conduit != method:
            raise UsageError(f"--conduit {opts.conduit} contradicts --dtb {opts.dtb}, whose /psci says "
                             f"method = \"{method}\" (the guest follows the tree): drop one")
    return initrd, dtb, opts.conduit or method or "hvc"


def build_session(opts: Options, uart_sink: Callable[[bytes], None] | None = None) -> Session:
    """Load the guest and configure machine, firmware, filter and answer rules from `opts`."""
    opts = opts.seeded()
    path, smp, image = load_guest(opts)
    initrd, dtb, conduit = _boot_files(opts)
    mcfg = MachineConfig(smp=opts.smp if opts.smp is not None else smp, ram_size=opts.mem,
                         conduit=conduit, quantum=max(1, opts.quantum),
                         timeslice=0 if opts.deterministic else MachineConfig.timeslice,
                         catch={CATCH_NAMES[c] for c in opts.catch}, no_reboot=opts.no_reboot,
                         bootargs=opts.append, initrd=initrd, dtb=dtb, idle_states=opts.idle_states)
    offered = PROFILE_PSCI_VERSIONS.get(opts.profile)  # an unknown profile: FirmwareConfig says so
    if offered is not None and opts.psci_version is not None and opts.psci_version not in offered:
        raise UsageError(f"--psci-version: the {opts.profile} profile ({MODELS[opts.profile]}) "
                         f"offers {version_list(offered)}")
    if opts.smccc_version is not None and opts.smccc_version not in ((1, 0), (1, 1), (1, 2)):
        raise UsageError("--smccc-version: must be 1.0, 1.1 or 1.2")
    fcfg = FirmwareConfig(profile=opts.profile, psci_version=opts.psci_version,
                          smccc_version=opts.smccc_version, conduit=conduit, seed=opts.seed)
    replay = Replay(callscript.load(opts.replay)) if opts.replay else None  # read before --record writes
    session = Session(image, mcfg, fcfg, uart_sink=uart_sink)
    session.options = opts.header(path, mcfg.smp)
    if replay is not None:
        session.start_replay(replay)
    if opts.input:
        session.machine.uart.feed(decode_escapes(opts.input))
    session.filter.set_default(Action(opts.default))
    for ranges, action in ((opts.forward, Action.FORWARD), (opts.deny, Action.DENY), (opts.handle, Action.HANDLE)):
        for text in ranges:
            for base, count in parse_range(text):
                session.filter.add(base, count, action)
    for text in opts.answer:
        session.rules.add(parse_answer_rule(text))
    if opts.record:
        session.start_recording(opts.record, overwrite=opts.overwrite)
    return session
