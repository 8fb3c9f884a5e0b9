"""The typed options of a run (Options, one subclass per command), and their round trip
through a call script's header: written when a recording starts, read back by a replay."""
from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from hcdbg import guests
from hcdbg.errors import UsageError
from hcdbg.handlers.config import default_psci
from hcdbg.smccc.ids import MASK64
from hcdbg.stop import CATCH_NAMES
from hcdbg.values import version


Version = tuple[int, int]
O = TypeVar("O", bound="Options")


@dataclass(frozen=True)
class Options:
    """Guest, machine, firmware and forwarding options every command takes (the defaults
    here are the command line's)."""

    guest: str | None = None
    # machine
    smp: int | None = None
    mem: int = 128 << 20
    conduit: str | None = None
    load: int | None = None
    bios: Path | None = None
    initrd: Path | None = None
    dtb: Path | None = None
    entry: int | None = None
    deterministic: bool = False
    quantum: int = 20_000
    catch: tuple[str, ...] = ()
    append: str = ""
    no_reboot: bool = False
    idle_states: bool = False
    input: str | None = None
    max_insns: int | None = None
    # firmware
    profile: str = "kvm"
    psci_version: Version | None = None  # None: the profile's (handlers.config.default_psci)
    smccc_version: Version | None = None
    seed: int | None = None
    # forwarding ranges and answer rules
    forward: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    handle: tuple[str, ...] = ()
    default: str = "handle"
    answer: tuple[str, ...] = ()
    # the run
    record: Path | None = None
    overwrite: bool = False
    replay: Path | None = None  # answer calls from this call script (the REPL's --replay)
    no_color: bool = False
    debug: bool = False

    @classmethod
    def of(cls: type[O], values: dict[str, Any]) -> O:
        """The options `values` names (lists become tuples); the rest keep their defaults.
        A name that is not an option is a bug in the parser: TypeError."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def seeded(self: O) -> O:
        """A recorded run gets a TRNG seed (kept in the script's header) so replays repeat it."""
        if self.record is not None and self.seed is None:
            return replace(self, seed=random.getrandbits(32))
        return self

    def header(self, guest: Path, smp: int) -> dict[str, Any]:
        """The guest, machine and firmware sections of a call script's header for a run of
        `guest` on `smp` vCPUs (sha256 is added when a recording starts)."""
        machine = {k: _to_json(k, getattr(self, k)) for k in MACHINE_OPTIONS}
        machine["smp"] = smp
        head: dict[str, Any] = {"path": str(guest.resolve())}
        if self.bios is None:
            name = self.guest or guests.DEFAULT_GUEST
            bundled = guests.find(name) if not guests.file_exists(name) else None
            if bundled is not None:
                head["name"] = bundled.name  # a bundled guest is found by name on another checkout
        firmware = {k: _to_json(k, getattr(self, k)) for k in FIRMWARE_OPTIONS}
        if self.psci_version is None:  # the version the run got, so a replay gets it too
            firmware["psci_version"] = _to_json("psci_version", default_psci(self.profile))
        return {"guest": head, "machine": machine, "firmware": firmware}

    def with_header(self: O, head: dict[str, Any]) -> O:
        """These options, with the script header's machine and firmware options for every
        one left at its default (options given on the command line win)."""
        defaults = {f.name: f.default for f in fields(Options)}
        taken: dict[str, Any] = {}
        for section, keys in (("machine", MACHINE_OPTIONS), ("firmware", FIRMWARE_OPTIONS)):
            values = head.get(section, {})
            for key in keys:
                if key in values and getattr(self, key) == defaults[key]:
                    taken[key] = _from_json(section, key, values[key])
        return replace(self, **taken)


@dataclass(frozen=True)
class ReplOptions(Options):
    """`hcdbg [GUEST]`: the REPL, or its batch mode."""

    batch: bool = False
    ex: tuple[str, ...] = ()  # -ex CMD
    scripts: tuple[Path, ...] = ()  # -x FILE
    gdb: str | None = None  # --gdb [HOST:]PORT: serve gdb's remote protocol there


@dataclass(frozen=True)
class TraceOptions(Options):
    """`hcdbg trace GUEST`."""

    output: Path | None = None  # -o FILE: call lines there instead of stderr
    gdb: str | None = None  # --gdb [HOST:]PORT: wait for gdb there, let it drive the run


@dataclass(frozen=True)
class ReplayOptions(Options):
    """`hcdbg replay SCRIPT [GUEST]`."""

    script: Path = Path()  # required on the command line
    ignore_args: bool = False
    any_vcpu_order: bool = False
    verbose: bool = False
    output: Path | None = None


@dataclass(frozen=True)
class TimelineOptions(Options):
    """`hcdbg timeline SCRIPT|GUEST`."""

    source: str = ""  # a call script, or a guest to run (required on the command line)
    html: Path | None = None
    svg: Path | None = None
    width: int | None = None  # None: the terminal's
    calls: str | None = None  # N-M: only these calls
    time: str = "calls"  # what the picture's x axis counts: calls, or insns (instructions run)


#: Options a call script's header keeps, so a replay rebuilds the same machine and firmware.
MACHINE_OPTIONS = ("smp", "mem", "conduit", "load", "entry", "quantum", "catch", "append",
                   "no_reboot", "input", "bios", "initrd", "dtb", "idle_states")
FIRMWARE_OPTIONS = ("profile", "psci_version", "smccc_version", "seed")
_VERSIONS = ("psci_version", "smccc_version")
_PATHS = ("bios", "initrd", "dtb")
_VALUES = ("load", "entry", "seed")  # 64-bit values: -4 is 0xfffffffffffffffc
_TYPES: dict[str, tuple[type, ...]] = {
    "smp": (int,), "mem": (int,), "load": (int,), "entry": (int,), "quantum": (int,), "seed": (int,),
    "catch": (list,), "no_reboot": (bool,), "idle_states": (bool,), "psci_version": (str,), "smccc_version": (str,)}


_DEFAULTS = {f.name: f.default for f in fields(Options)}


def _to_json(key: str, value: Any) -> Any:
    if key in _VERSIONS and value is not None:
        return f"{value[0]}.{value[1]}"
    if isinstance(value, tuple):
        return list(value)
    return str(value) if isinstance(value, Path) else value


def _from_json(section: str, key: str, value: Any) -> Any:
    """A header value as the option it stands for; UsageError if it has the wrong type."""
    kinds = _TYPES.get(key, (str,))
    if value is None and _DEFAULTS[key] is None:  # null: the option left at its default
        return None
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise UsageError(f"script header: {section}.{key} = {value!r}: expected "
                         f"{' or '.join(k.__name__ for k in kinds)}")
    if key == "catch":
        if not all(isinstance(name, str) for name in value) or not set(value) <= set(CATCH_NAMES):
            raise UsageError(f"script header: machine.catch = {value!r}: expected a list of "
                             f"{', '.join(CATCH_NAMES)}")
        return tuple(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(1 << 63) <= value <= MASK64:  # as the command line's parse_value/parse_count
            raise UsageError(f"script header: {section}.{key} = {value}: does not fit in 64 bits")
        return value & MASK64 if key in _VALUES else value
    if key in _PATHS:
        return Path(value)
    if key in _VERSIONS:
        read = version(value)
        if read is None:
            raise UsageError(f"script header: {section}.{key} = {value!r} is not a version like 1.1")
        return read
    return value
