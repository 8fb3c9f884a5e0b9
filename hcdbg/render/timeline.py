"""The timeline's layout: a call history as one lane per vCPU, its marks, arrows, barriers and
power states over time. Pure data (no terminal, no Unicorn); timeline_text and timeline_html draw it.

Time is call order: slot i is the i-th call shown. A lane's state in slot i is its power state
once call i is made. The states come from what the calls did to the machine (their effects:
CPU_ON starts its target, CPU_OFF stops the caller, ...) and from what the calls show: a vCPU
that makes a call is on, so one whose first sign of life is its own call was on from the start.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from hcdbg.render.call_lines import Recorded
from hcdbg.smccc import catalog
from hcdbg.smccc.effects import CpuOff, CpuOn, CpuSuspend, SystemOff, SystemReset, SystemSuspend
from hcdbg.smccc.ids import FID_SMC64, PsciRet, s64
from hcdbg.smccc.retcodes import retcode_name


class Power(Enum):
    """A lane's style: the vCPU's power state (DEN0022D.b §5.8's ON, OFF, ON_PENDING, plus
    suspended after CPU_SUSPEND until the vCPU is seen again)."""

    OFF = "off"
    ON = "on"
    PENDING = "pending"
    SUSPENDED = "suspended"


#: Short names and one-character glyphs of the calls a timeline shows most (PSCI, DEN0022D.b
#: §5.1); any other function shows its name without the service prefix.
SHORT: dict[str, tuple[str, str]] = {
    "PSCI_VERSION": ("VER", "V"),
    "PSCI_FEATURES": ("FEAT", "F"),
    "PSCI_CPU_ON": ("ON", "+"),
    "PSCI_0_1_CPU_ON": ("ON", "+"),
    "PSCI_CPU_OFF": ("OFF", "-"),
    "PSCI_0_1_CPU_OFF": ("OFF", "-"),
    "PSCI_CPU_SUSPEND": ("SUSPEND", "z"),
    "PSCI_0_1_CPU_SUSPEND": ("SUSPEND", "z"),
    "PSCI_AFFINITY_INFO": ("AFF", "?"),
    "PSCI_MIGRATE_INFO_TYPE": ("MIGRATE_INFO", "M"),
    "PSCI_SYSTEM_OFF": ("SYSTEM_OFF", "#"),
    "PSCI_SYSTEM_OFF2": ("SYSTEM_OFF2", "#"),
    "PSCI_SYSTEM_RESET": ("SYSTEM_RESET", "R"),
    "PSCI_SYSTEM_RESET2": ("SYSTEM_RESET2", "R"),
    "PSCI_SYSTEM_SUSPEND": ("SYSTEM_SUSPEND", "Z"),
    "SMCCC_VERSION": ("SMCCC_VER", "S"),
    "SMCCC_ARCH_FEATURES": ("ARCH_FEAT", "A"),
    "SMCCC_ARCH_SOC_ID": ("SOC_ID", "I"),
    "SMCCC_ARCH_WORKAROUND_1": ("WA1", "1"),
    "SMCCC_ARCH_WORKAROUND_2": ("WA2", "2"),
    "SMCCC_ARCH_WORKAROUND_3": ("WA3", "3"),
    "SMCCC_ARCH_WORKAROUND_4": ("WA4", "4"),
    "TRNG_VERSION": ("TRNG_VER", "v"),
    "TRNG_FEATURES": ("TRNG_FEAT", "f"),
    "TRNG_GET_UUID": ("UUID", "u"),
    "TRNG_RND32": ("RND32", "r"),
    "TRNG_RND64": ("RND64", "r"),
    "VENDOR_HYP_CALL_UID": ("HYP_UID", "H"),
    "VENDOR_HYP_KVM_FEATURES": ("KVM_FEAT", "K"),
    "VENDOR_HYP_KVM_PTP": ("PTP", "P"),
    "PV_TIME_FEATURES": ("PV_FEAT", "p"),
    "PV_TIME_ST": ("PV_ST", "t"),
}
_TARGETED = {"PSCI_CPU_ON", "PSCI_0_1_CPU_ON", "PSCI_AFFINITY_INFO"}  # x1 names a CPU
_AFFINITY = {0: "ON", 1: "OFF", 2: "ON_PENDING"}  # DEN0022D.b §5.1.5 AFFINITY_INFO results
_VERSIONS = {"PSCI_VERSION", "SMCCC_VERSION", "TRNG_VERSION"}


def vcpu_of(mpidr: int) -> int:
    """The vCPU index of an MPIDR affinity as QEMU `virt` numbers CPUs (clusters of 8:
    Aff1.Aff0), the board hcdbg models (machine/board.py mpidr_of)."""
    return ((mpidr >> 8) & 0xFF) * 8 + (mpidr & 0xFF)


@dataclass(frozen=True)
class Mark:
    """One call on its lane: `short` name (with the vCPU it names, if any) and `answer`."""

    slot: int
    seq: int
    vcpu: int
    name: str  # the catalog's name, PSCI_CPU_ON (or the function ID in hex)
    short: str  # ON(3)
    glyph: str  # +3
    answer: str  # ok, ALREADY_ON, OFF, 1.1, "" for a call that does not return
    failed: bool  # a negative return code: the call was refused
    target: int | None = None

    @property
    def label(self) -> str:
        """`ON(3) ALREADY_ON`: the mark as the roomiest picture writes it."""
        return f"{self.short} {self.answer}" if self.answer else self.short

    @property
    def brief(self) -> str:
        """`+3!`: the glyph, the vCPU it names, and `!` when the answer was an error."""
        return self.glyph + ("!" if self.failed else "")


@dataclass(frozen=True)
class Arrow:
    """A CPU_ON in slot `slot` on lane `source` that started lane `target` there."""

    slot: int
    seq: int
    source: int
    target: int


@dataclass(frozen=True)
class Barrier:
    """A call that ended the run for every lane (SYSTEM_OFF, SYSTEM_RESET) in slot `slot`."""

    slot: int
    seq: int
    vcpu: int
    kind: str  # SYSTEM_OFF or SYSTEM_RESET


@dataclass(frozen=True)
class Span:
    """Lane `vcpu` is in state `power` over slots start..end-1 (start -1: before the first call)."""

    vcpu: int
    start: int
    end: int
    power: Power


@dataclass(frozen=True)
class Timeline:
    """The laid-out history: `states[v][i]` is lane v's state once call `marks[i]` is made."""

    lanes: int
    marks: tuple[Mark, ...]
    arrows: tuple[Arrow, ...]
    barriers: tuple[Barrier, ...]
    initial: tuple[Power, ...]
    states: tuple[tuple[Power, ...], ...]
    #: When each call was made, in instructions run (a deterministic run's clock); empty:
    #: time is call order.
    times: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.marks)

    def window(self, first: int, last: int) -> Timeline:
        """The calls numbered `first`..`last` alone, each lane starting in the state the
        whole history had it in before them (a window mid-run keeps its started vCPUs on)."""
        keep = [m.slot for m in self.marks if first <= m.seq <= last]
        if not keep:
            return Timeline(self.lanes, (), (), (), self.initial, tuple(() for _ in range(self.lanes)))
        lo, hi = keep[0], keep[-1] + 1
        initial = self.initial if lo == 0 else tuple(row[lo - 1] for row in self.states)
        return Timeline(self.lanes,
                        tuple(replace(m, slot=m.slot - lo) for m in self.marks[lo:hi]),
                        tuple(replace(a, slot=a.slot - lo) for a in self.arrows if lo <= a.slot < hi),
                        tuple(replace(b, slot=b.slot - lo) for b in self.barriers if lo <= b.slot < hi),
                        initial, tuple(row[lo:hi] for row in self.states), self.times[lo:hi])

    def spans(self, vcpu: int) -> list[Span]:
        """Lane `vcpu`'s states as runs of slots, from before the first call (slot -1)."""
        out: list[Span] = []
        start, power = -1, self.initial[vcpu]
        for i, state in enumerate(self.states[vcpu]):
            if state is not power:
                out.append(Span(vcpu, start, i, power))
                start, power = i, state
        out.append(Span(vcpu, start, len(self.marks), power))
        return out


def answer_word(name: str, fid: int, answer: dict[int, int], returns: bool) -> tuple[str, bool]:
    """The answer as a mark shows it, and whether it is a refusal: `ok` (SUCCESS, 0), a return
    code's name (ALREADY_ON, NOT_SUPPORTED), an AFFINITY_INFO state, a version, else hex."""
    if not returns:
        return "", False
    if 0 not in answer:
        return "?", False
    x0 = answer[0]
    signed = s64(x0)
    base = _base_name(name)
    if base == "PSCI_AFFINITY_INFO" and signed in _AFFINITY:
        return _AFFINITY[signed], False
    if base in _VERSIONS and signed > 0:
        return f"{x0 >> 16}.{x0 & 0xFFFF}", False
    if signed == 0:
        return "ok", False
    fn = catalog.lookup(fid)
    code = retcode_name(fn.service if fn else None, x0, smc32=not fid & FID_SMC64)
    if code is not None and (signed < 0 or x0 >> 31 & 1 and x0 <= 0xFFFF_FFFF):
        return code, True
    return f"{x0:#x}", False


def _base_name(name: str) -> str:
    return name.removesuffix("_32").removesuffix("_64")


def _short(name: str, fid: int) -> tuple[str, str]:
    """(short name, glyph) of a function: SHORT's, else its name without the service prefix."""
    if name in SHORT:
        return SHORT[name]
    if not name:
        return f"{fid:#x}", "%"
    rest = name.split("_", 1)[1] if "_" in name else name
    return rest[:12], rest[0]


def mark_of(rec: Recorded, slot: int) -> Mark:
    """The mark of one recorded call in `slot`."""
    t = rec.trap
    fn = catalog.lookup(t.fid)
    name = fn.name if fn else ""
    short, glyph = _short(name, t.fid)
    target: int | None = None
    if isinstance(rec.effect, CpuOn):
        target = rec.effect.target
    elif name in _TARGETED and (name != "PSCI_AFFINITY_INFO" or t.regs[2] == 0):
        # AFFINITY_INFO names one CPU only at level 0 (§5.1.5); x1 is an MPIDR, as QEMU
        # virt numbers them (an SMC32 call reads w1: Aff3 is above bit 31).
        target = vcpu_of(t.regs[1] & 0xFFFF_FFFF)
    if target is not None:
        short, glyph = f"{short}({target})", f"{glyph}{target}"
    effect = rec.effect
    returns = effect is None or effect.no_return is None
    answer, failed = answer_word(name, t.fid, rec.answer, returns)
    return Mark(slot, rec.seq, t.vcpu, name or f"{t.fid:#010x}", short, glyph, answer, failed, target)


def layout(records: Iterable[Recorded], lanes: int = 1, times: Sequence[int] = ()) -> Timeline:
    """Lay out `records` (oldest first) on at least `lanes` lanes (the machine's vCPU count;
    more if a call names a higher vCPU). vCPU 0 is on before the first call (it boots), the
    others off unless their own call shows them on first. `times`: when each call was made
    (instructions run, never decreasing), or empty for call order."""
    marks: list[Mark] = []
    arrows: list[Arrow] = []
    barriers: list[Barrier] = []
    rows: list[list[Power]] = []
    current: list[Power] = []
    initial: list[Power] = []
    touched: set[int] = {0}  # lanes whose state something has decided already

    def grow(n: int) -> None:
        while len(current) < n:
            current.append(Power.OFF)
            initial.append(Power.OFF)
            rows.append([Power.OFF] * len(marks))

    grow(max(lanes, 1))
    initial[0] = current[0] = Power.ON
    for slot, rec in enumerate(records):
        mark = mark_of(rec, slot)
        caller = mark.vcpu
        # Lanes for callers and started vCPUs; a CPU_ON refused for a CPU that does not
        # exist (INVALID_PARAMETERS) gets none.
        grow(max(caller, rec.effect.target if isinstance(rec.effect, CpuOn) else 0) + 1)
        if caller not in touched:  # its first sign of life is a call: on since the start
            touched.add(caller)
            for i in range(len(rows[caller])):
                rows[caller][i] = Power.ON
            initial[caller] = Power.ON
        current[caller] = Power.ON
        effect = rec.effect
        if isinstance(effect, CpuOn):
            current[effect.target] = Power.ON
            touched.add(effect.target)
            arrows.append(Arrow(slot, rec.seq, caller, effect.target))
        elif isinstance(effect, CpuOff):
            current[caller] = Power.OFF
        elif isinstance(effect, (CpuSuspend, SystemSuspend)):
            current[caller] = Power.SUSPENDED
        elif isinstance(effect, (SystemOff, SystemReset)):
            kind = "SYSTEM_RESET" if isinstance(effect, SystemReset) else "SYSTEM_OFF"
            barriers.append(Barrier(slot, rec.seq, caller, kind))
            for v in range(len(current)):
                current[v] = Power.OFF
            touched.update(range(len(current)))
            if isinstance(effect, SystemReset):
                current[0] = Power.ON  # the guest boots again on vCPU 0
        elif mark.target is not None and _promises_start(mark, rec.answer):
            target = mark.target
            touched.add(target)
            if target < len(current) and current[target] is Power.OFF:
                current[target] = Power.PENDING
        for v, row in enumerate(rows):
            row.append(current[v])
        marks.append(mark)
    if times and len(times) != len(marks):
        raise ValueError(f"{len(times)} times for {len(marks)} calls")
    return Timeline(len(current), tuple(marks), tuple(arrows), tuple(barriers), tuple(initial),
                    tuple(tuple(r) for r in rows), tuple(times))


def _promises_start(mark: Mark, answer: dict[int, int]) -> bool:
    """A call that tells the guest its target is coming up when no start was recorded: a
    CPU_ON answered SUCCESS with no effect (a reply by hand, a rule: the machine does not
    start it) or ON_PENDING, or AFFINITY_INFO answering ON_PENDING (DEN0022D.b §5.1.4-5)."""
    x0 = s64(answer.get(0, 1))
    if mark.name.startswith("PSCI_AFFINITY_INFO"):
        return x0 == 2
    return x0 in (PsciRet.SUCCESS, PsciRet.ON_PENDING)
