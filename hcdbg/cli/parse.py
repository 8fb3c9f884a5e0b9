"""The command line's grammar: one argparse parser per command, turned into typed Options
(argparse's defaults are left to the Options dataclasses, so there is one set of them)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Union

from hcdbg import __version__
from hcdbg import guests
from hcdbg.cli.options import ReplayOptions, ReplOptions, TimelineOptions, TraceOptions
from hcdbg.errors import UsageError
from hcdbg.handlers.config import MODELS, PROFILE_PSCI_VERSIONS, PROFILES, version_list
from hcdbg.stop import CATCH_NAMES
from hcdbg.smccc.ids import MASK64
from hcdbg.values import decimal, parse_number, version


class ArgumentsError(UsageError):
    """The command line does not parse: argparse's message, and the command (`prog`) whose
    --help tells what it takes (one line, not argparse's usage block)."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.prog = prog


class Finished(Exception):
    """--help or --version printed what was asked: there is nothing to run."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so that cli.main alone ends the
    program, and that leaves every option it was not given to the Options' defaults."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(argument_default=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise ArgumentsError(message, self.prog)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise Finished()


@dataclass(frozen=True)
class ListGuests:
    """`hcdbg guests`."""


@dataclass(frozen=True)
class Explain:
    """`hcdbg explain NAME|FID|SERVICE`: the REPL's explain, without a guest."""

    what: str


Command = Union[ReplOptions, TraceOptions, ReplayOptions, TimelineOptions, ListGuests, Explain]


def parse(argv: list[str]) -> Command:
    """What the command line `hcdbg ARGV...` asks for. ArgumentsError if it does not parse;
    Finished after --help or --version."""
    if argv[:1] == ["guests"]:
        return ListGuests()
    if argv[:1] == ["explain"]:
        return Explain(" ".join(_explain_parser().parse_args(argv[1:]).what))
    if argv[:1] == ["trace"]:
        return TraceOptions.of(vars(_trace_parser().parse_args(argv[1:])))
    if argv[:1] == ["replay"]:
        return ReplayOptions.of(vars(_replay_parser().parse_args(argv[1:])))
    if argv[:1] == ["timeline"]:
        return TimelineOptions.of(vars(_timeline_parser().parse_args(argv[1:])))
    return repl_options(argv)


def repl_options(argv: list[str]) -> ReplOptions:
    """The options of `hcdbg ARGV...`, the REPL's command line (for tests and embedding:
    build_session takes them)."""
    return ReplOptions.of(vars(_repl_parser().parse_args(argv)))


def parse_int(text: str) -> int:
    """An integer as hcdbg.values reads one (0x.., 0o.., 0b.., decimal; _ allowed)."""
    value = parse_number(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number (decimal or 0x hex)")
    return value


def parse_value(text: str) -> int:
    """A 64-bit value (an address, a seed): -2**63 to 2**64-1, a negative one as its two's
    complement (--load=-4 is 0xfffffffffffffffc), never wrapped beyond that."""
    value = parse_int(text)
    if not -(1 << 63) <= value <= MASK64:
        raise argparse.ArgumentTypeError(f"'{text}' does not fit in 64 bits")
    return value & MASK64


def parse_count(text: str) -> int:
    """A count (vCPUs, instructions): 0 to 2**64-1."""
    value = parse_int(text)
    if not 0 <= value <= MASK64:
        raise argparse.ArgumentTypeError(f"'{text}' is not a count from 0 to 2**64-1")
    return value


def parse_size(text: str) -> int:
    """A memory size: bytes, or with a K/M/G suffix, whole or decimal (1.5G); QEMU's -m
    takes M by default. ASCII digits only, finite: no inf, nan or 1e400."""
    t = text.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    body, unit = (t[:-1], scale[t[-1]]) if t and t[-1] in scale else (t, 1 << 20)
    whole, dot, fraction = body.partition(".")
    number = parse_number(whole) if not dot else None
    if dot and decimal(whole or "0") is not None and decimal(fraction) is not None:
        return int(float(body) * unit)  # digits and one dot: finite, and small enough
    if number is None or number < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size (e.g. 128M, 1G)")
    return number * unit


def parse_version(text: str) -> tuple[int, int]:
    """A version MAJOR.MINOR, as (major, minor)."""
    read = version(text)
    if read is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a version like 1.1")
    return read


def _common(p: argparse.ArgumentParser) -> None:
    m = p.add_argument_group("machine")
    m.add_argument("--smp", type=parse_count, metavar="N", help="number of vCPUs (default 1; a bundled guest may say otherwise)")
    m.add_argument("--mem", type=parse_size, metavar="SIZE", help="RAM size (default 128M)")
    m.add_argument("--conduit", choices=("hvc", "smc"),
                   help="PSCI conduit advertised in the device tree (default hvc, as QEMU virt; "
                        "with --dtb, its /psci method)")
    m.add_argument("--load", type=parse_value, metavar="ADDR",
                   help="load address of a raw binary or arm64 Image (default as QEMU's -kernel: "
                        "RAM + 0x80000, an Image per its header)")
    m.add_argument("--bios", type=Path, metavar="FILE",
                   help="firmware image in the flash at 0, started there, DTB at the bottom of RAM "
                        "(QEMU's -bios; instead of GUEST)")
    m.add_argument("--initrd", type=Path, metavar="FILE",
                   help="initrd/initramfs placed in RAM as QEMU's -initrd, /chosen/linux,initrd-start/-end set")
    m.add_argument("--dtb", type=Path, metavar="FILE",
                   help="use this device tree blob (e.g. from qemu-system-aarch64 -M virt,dumpdtb=FILE) "
                        "instead of the generated one; /memory, bootargs and initrd are fixed up as QEMU's -dtb")
    m.add_argument("--idle-states", action="store_true",
                   help="put a power-down CPU idle state in the generated device tree, so Linux's "
                        "cpuidle makes CPU_SUSPEND calls (the profile answers them: tf-a powers the "
                        "vCPU down, kvm and qemu wait as WFI)")
    m.add_argument("--entry", type=parse_value, metavar="ADDR", help="entry point (default: from the image)")
    m.add_argument("--deterministic", action="store_true",
                   help="schedule several vCPUs by instruction count (--quantum) so every run "
                   "interleaves alike; slower (on with --record and replays)")
    m.add_argument("--quantum", type=parse_count, metavar="N",
                   help="instructions per vCPU slice with --deterministic (default 20000)")
    m.add_argument("--catch", action="append", metavar="EXC",
                   choices=tuple(CATCH_NAMES),
                   help="stop on this guest exception (svc, brk, undef, iabt, dabt) instead of delivering it")
    m.add_argument("--append", metavar="CMDLINE", help="kernel command line (/chosen/bootargs)")
    m.add_argument("--no-reboot", action="store_true", help="SYSTEM_RESET ends the run (as QEMU -no-reboot)")
    m.add_argument("--uart-input", "--input", dest="input", metavar="TEXT",
                   help="bytes queued for the guest to read from its UART (\\r, \\n and \\xNN escapes)")
    m.add_argument("--max-insns", type=parse_count, metavar="N", help="stop after about N instructions (runaway guard)")
    f = p.add_argument_group("firmware")
    f.add_argument("--profile", choices=PROFILES,
                   help="whose answers the built-in handlers give: " + "; ".join(
                       f"{p} = {m}" for p, m in MODELS.items()) + " (default kvm)")
    f.add_argument("--psci-version", type=parse_version, metavar="V", help=(
        "the PSCI version offered: " + "; ".join(
            f"{p} {version_list(v)} (default {v[-1][0]}.{v[-1][1]})" if len(v) > 1 else f"{p} {version_list(v)}"
            for p, v in PROFILE_PSCI_VERSIONS.items())))
    f.add_argument("--smccc-version", type=parse_version, metavar="V", help="1.0, 1.1 or 1.2 (default: the profile's)")
    f.add_argument("--seed", type=parse_value, metavar="S", help="make TRNG answers deterministic")
    r = p.add_argument_group("forwarding ranges")
    r.add_argument("--forward", action="append", metavar="RANGE", help="stop on calls in RANGE")
    r.add_argument("--deny", action="append", metavar="RANGE", help="answer NOT_SUPPORTED to RANGE")
    r.add_argument("--handle", action="append", metavar="RANGE", help="built-in handlers answer RANGE")
    r.add_argument("--default", choices=("handle", "deny", "forward"),
                   help="action for calls no range matches (default handle, like KVM)")
    r.add_argument("--answer", action="append", metavar="RULE",
                   help="conditional answer, e.g. 'PSCI_CPU_ON x1=0x2 -> INTERNAL_FAILURE'")
    p.add_argument("--record", type=Path, metavar="FILE",
                   help="write every call and its answer to the call script FILE as it happens")
    p.add_argument("--overwrite", action="store_true", help="let --record replace an existing FILE")
    p.add_argument("--no-color", action="store_true", help="plain text output")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks for internal errors")


def version_text() -> str:
    """`hcdbg 0.1.0 (unicorn 2.1.4, capstone 5.0.9)`: the installed distributions' versions,
    read from their metadata so that neither engine is imported just to print it."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"
    return f"hcdbg {__version__} (unicorn {of('unicorn')}, capstone {of('capstone')})"


class _Version(argparse.Action):
    """--version: print version_text() and exit 0 (argparse's own action wants the text
    up front, and the metadata look-up is not worth doing on every start)."""

    def __init__(self, option_strings: list[str], dest: str, default: object = None,
                 help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def _guest(p: argparse.ArgumentParser, note: str) -> None:
    p.add_argument("guest", nargs="?", help="ELF, arm64 Image (or Image.gz) or raw binary, or a bundled "
                   f"guest name (default {guests.DEFAULT_GUEST}{note})")


def _repl_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hcdbg", description=(
        "Debug the HVC/SMC firmware calls of an AArch64 guest. "
        "Commands: 'hcdbg [GUEST]' opens the REPL, 'hcdbg trace GUEST' runs strace-style, "
        "'hcdbg replay SCRIPT' checks a guest against a call script, "
        "'hcdbg timeline SCRIPT|GUEST' draws the calls as lanes per vCPU, "
        "'hcdbg guests' lists the bundled guests, 'hcdbg explain NAME' explains a call."))
    _guest(p, "")
    p.add_argument("--version", action=_Version, help="print the versions of hcdbg, Unicorn and capstone")
    p.add_argument("--batch", action="store_true", help="run the -ex/-x commands without a prompt, then exit")
    p.add_argument("-ex", dest="ex", action="append", metavar="CMD", help="run REPL command CMD")
    p.add_argument("-x", dest="scripts", action="append", type=Path, metavar="FILE",
                   help="run REPL commands from FILE")
    p.add_argument("--replay", type=Path, metavar="SCRIPT",
                   help="answer calls from the call SCRIPT until the guest does something else")
    _gdb(p)
    _common(p)
    return p


def _gdb(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gdb", metavar="[HOST:]PORT", help=(
        "serve gdb's remote protocol on HOST:PORT (default host 127.0.0.1; port 0 picks a "
        "free one): 'target remote :PORT' in gdb-multiarch debugs the guest at source level "
        "and stops at forwarded calls; 'monitor CMD' runs hcdbg commands. The guest waits at "
        "its entry point until gdb continues it"))


def _replay_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hcdbg replay", description=(
        "Run GUEST without a prompt, answering each call from the call SCRIPT (--record writes "
        "one) and checking it is the call the script has next. Exit 0 if the guest made exactly "
        "the script's calls, 1 at the first divergence (or a call the guest never made), 2 for "
        "a bad script. Machine and firmware options come from the script's header unless given."))
    p.add_argument("script", type=Path, help="the call script (JSON lines)")
    p.add_argument("guest", nargs="?", help="the guest (default: the one the script's header names)")
    p.add_argument("--ignore-args", action="store_true", help="check function IDs, conduits and vCPUs, not arguments")
    p.add_argument("--any-vcpu-order", action="store_true",
                   help="each vCPU must make its own calls in order; how vCPUs interleave may differ")
    p.add_argument("-v", "--verbose", action="store_true", help="print a line per call (to stderr), as trace does")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the call lines to FILE (implies -v)")
    _common(p)
    return p


def _explain_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hcdbg explain", description=(
        "Explain a function ID (0x84000003), a function name (PSCI_CPU_ON, CPU_ON_64) or a "
        "service (psci, trng): its fields, arguments, results, return codes, the Arm "
        "document section, and what KVM and QEMU answer. No guest is needed."))
    p.add_argument("what", nargs="+", metavar="NAME|FID|SERVICE")
    return p


def _trace_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hcdbg trace", description=(
        "Run GUEST to the end without a prompt; print one line per call (to stderr, like strace) "
        "while the guest's UART goes to stdout. Exit 0 if the guest powered off."))
    _guest(p, "; none with --bios")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the call lines to FILE instead of stderr")
    _gdb(p)
    _common(p)
    return p


def _timeline_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hcdbg timeline", description=(
        "Draw a run's calls as one lane per vCPU, time (call order) going right: each call a "
        "mark with its short name and answer, the lane styled by the vCPU's power state, an "
        "arrow from each CPU_ON to the vCPU it started, SYSTEM_OFF/RESET across every lane. "
        "SOURCE is a call script (--record writes one; drawn without running anything) or a "
        "guest, run to its end with --deterministic (so the picture repeats; its UART output "
        "is not shown). The picture fits the terminal, or --width; --html writes a page."))
    p.add_argument("source", metavar="SCRIPT|GUEST", help="a call script, or a guest (file or bundled name)")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="write a self-contained page (open it in a browser: a click on a call shows its registers and explanation)")
    p.add_argument("--svg", type=Path, metavar="FILE", help="write the picture as an SVG file")
    p.add_argument("--width", type=parse_count, metavar="N", help="columns to fit (default: the terminal's)")
    p.add_argument("--calls", metavar="N-M", help="only the calls numbered N to M")
    p.add_argument("--time", choices=("calls", "insns"),
                   help="what time counts: calls (call order, the default) or insns (instructions "
                        "run, the deterministic run's clock, to within a --quantum slice; a guest only)")
    _common(p)
    return p
