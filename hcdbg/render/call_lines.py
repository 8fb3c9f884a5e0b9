"""One-line renderings of calls and their answers (trace lines, `calls` history)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hcdbg.smccc import catalog
from hcdbg.smccc.call import Call
from hcdbg.smccc.decode import arg_names, decode_call
from hcdbg.smccc.effects import Effect
from hcdbg.smccc.ids import FID_SMC64, s64
from hcdbg.smccc.retcodes import retcode_name
from hcdbg.smccc.source import BUILT_IN, AnsweredBy


class Recorded(Protocol):
    """A call and its answer as a run's history keeps them (the session's CallRecord)."""

    @property
    def seq(self) -> int: ...
    @property
    def trap(self) -> Call: ...
    @property
    def source(self) -> AnsweredBy: ...
    @property
    def answer(self) -> dict[int, int]: ...
    @property
    def effect(self) -> Effect | None: ...


class Expected(Protocol):
    """A call a call script expects (the session's script Entry); None: not checked."""

    @property
    def line(self) -> int: ...
    @property
    def fid(self) -> int: ...
    @property
    def vcpu(self) -> int | None: ...
    @property
    def conduit(self) -> str | None: ...
    @property
    def imm(self) -> int | None: ...
    @property
    def args(self) -> dict[int, int]: ...


class Departure(Protocol):
    """Where a replay left its script (the session's Divergence)."""

    @property
    def trap(self) -> Call: ...
    @property
    def entry(self) -> Expected | None: ...
    @property
    def index(self) -> int: ...
    @property
    def differences(self) -> tuple[str, ...]: ...

#: Results that are states, not return codes (DEN0022 §5.8 AFFINITY_INFO, §5.10 MIGRATE_INFO_TYPE).
_STATE_NAMES = {
    "PSCI_AFFINITY_INFO": {0: "ON", 1: "OFF", 2: "ON_PENDING"},
    "PSCI_MIGRATE_INFO_TYPE": {0: "UP_MIGRATE_CAPABLE", 1: "UP_NOT_MIGRATE_CAPABLE", 2: "MP_OR_NO_TRUSTED_OS"},
}
_VERSIONS = {"PSCI_VERSION", "SMCCC_VERSION", "TRNG_VERSION"}


def hexv(value: int) -> str:
    """Hex the one way hcdbg writes it everywhere: 0x-prefixed, lower case, no padding."""
    return f"{value:#x}"


def call_text(trap: Call) -> str:
    """`PSCI_CPU_ON(target_cpu=0x1, entry_point_address=0x40080100, context_id=0x1001)`.

    SMC32 arguments are shown as the 32-bit values the callee reads (DEN0028 §2.6); an
    unknown function shows its owner and x1..x6."""
    fid = trap.fid
    d = decode_call(fid, trap.regs, trap.imm, trap.conduit)
    args = ", ".join(f"{n}={hexv(v)}" for n, v in d.args)
    return f"{function_text(fid)}({args})"


def function_text(fid: int) -> str:
    """`PSCI_CPU_ON_64`, or `SIP_0xc2001234` for a function the catalog does not know."""
    fn = catalog.lookup(fid)
    if fn is not None:
        return catalog.width_name(fn)
    return f"{catalog.service_of(fid).upper().replace('-', '_')}_{fid & 0xFFFF_FFFF:#010x}"


def result_text(trap: Call, answer: dict[int, int], effect: Effect | None = None) -> str:
    """`0x10001 (1.1)`, `-4 ALREADY_ON`, `1 OFF`; extra result registers as x1=..; for a
    call that does not return (CPU_OFF, SYSTEM_OFF...), what happens instead."""
    fid = trap.fid
    fn = catalog.lookup(fid)
    if effect is not None and effect.no_return is not None:
        return effect.no_return
    if 0 not in answer:
        return "(x0 unchanged)"
    x0 = answer[0]
    name = fn.name if fn else ""
    service = fn.service if fn else None
    smc32 = not (fid & FID_SMC64)
    signed = s64(x0)
    code = retcode_name(service, x0, smc32=smc32)
    if name in _STATE_NAMES and signed >= 0 and signed in _STATE_NAMES[name]:
        text = f"{signed} {_STATE_NAMES[name][signed]}"
    elif name in _VERSIONS and signed > 0:
        text = f"{hexv(x0)} ({x0 >> 16}.{x0 & 0xFFFF})"
    elif code is not None and (signed < 0 or (signed == 0 and not name.endswith("FEATURES"))):
        text = f"{signed} {code}" if signed < 0 else f"0 {code}"
    elif code is not None and smc32 and x0 >> 31 & 1 and x0 <= 0xFFFF_FFFF:
        text = f"{hexv(x0)} {code}"
    else:
        text = hexv(x0)
    extra = [f"x{n}={hexv(v)}" for n, v in sorted(answer.items()) if n and v]
    return text + (" [" + " ".join(extra) + "]" if extra else "")


def conduit_text(trap: Call) -> str:
    """`hvc#0`, `smc#1`."""
    return f"{trap.conduit}#{trap.imm}"


def record_line(rec: Recorded) -> str:
    """The strace-style line `hcdbg trace` prints for one call."""
    t = rec.trap
    tail = "" if rec.source == BUILT_IN else f"  <{rec.source}>"
    flag = f"  [#{t.imm}: non-zero immediate, not SMCCC]" if t.imm else ""
    return f"[vcpu{t.vcpu}] {conduit_text(t)} {call_text(t)} = {result_text(t, rec.answer, rec.effect)}{tail}{flag}"


def entry_text(entry: Expected) -> str:
    """A script entry as the call line it expects: `[vcpu0] hvc#0 PSCI_VERSION()`; what the
    entry does not check shows as `?` (`[vcpu?]`), unchecked arguments are left out."""
    names = dict(enumerate(arg_names(entry.fid), 1))
    args = ", ".join(f"{names.get(n, f'x{n}')}={hexv(v)}" for n, v in sorted(entry.args.items()))
    vcpu = "?" if entry.vcpu is None else entry.vcpu
    conduit = f"{entry.conduit or '?'}#{'?' if entry.imm is None else entry.imm}"
    return f"[vcpu{vcpu}] {conduit} {function_text(entry.fid)}({args})"


def divergence_lines(div: Departure, history: Sequence[Recorded], context: int = 3) -> list[str]:
    """Where a replay left its script: the entry, expected vs actual call, how they differ,
    and the last `context` calls that matched."""
    t = div.trap
    head = (f"replay diverged at script entry {div.index} (line {div.entry.line})"
            if div.entry is not None else "replay diverged: the guest made a call past the script's end")
    lines = [head + f", pc {t.pc:#x}:"]
    if div.entry is not None:
        lines.append(f"  expected  {entry_text(div.entry)}")
    lines.append(f"  actual    [vcpu{t.vcpu}] {conduit_text(t)} {call_text(t)}")
    lines.extend(f"  differs:  {d}" for d in div.differences)
    if history and context:
        lines.append("  last calls before it:")
        lines.extend(f"    #{rec.seq} {record_line(rec)}" for rec in history[-context:])
    return lines
