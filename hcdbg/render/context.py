"""The context view shown at every stop: why, the call (decoded, previewed), registers, code."""
from __future__ import annotations

from hcdbg.errors import HcdbgError
from hcdbg.machine.machine import Stop, StopKind
from hcdbg.render import disasm
from hcdbg.render.calls import hexv, result_text
from hcdbg.render.style import Fragments, line, rule
from hcdbg.session.session import PendingCall, Session
from hcdbg.smccc.call import Answer
from hcdbg.smccc.decode import arg_mask, decode_call, hex32
from hcdbg.smccc.effects import Effect
from hcdbg.smccc.ids import MASK32

#: Registers the context shows (all of them: `info registers` adds the system registers).
CONTEXT_REGS = [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]

_TITLES = {
    StopKind.CALL: "forwarded call",
    StopKind.BREAKPOINT: "breakpoint",
    StopKind.STEP: "step",
    StopKind.EXCEPTION: "guest exception",
    StopKind.FAULT: "fault",
    StopKind.INTERRUPT: "interrupted",
    StopKind.POWER_OFF: "powered off",
    StopKind.RESET: "guest reset",
    StopKind.HALTED: "halted",
    StopKind.MAX_INSNS: "instruction limit",
}

_PSTATE_MODES = {0b0000: "EL0t", 0b0100: "EL1t", 0b0101: "EL1h", 0b1000: "EL2t", 0b1001: "EL2h"}


def read_registers(session: Session, vcpu: int) -> dict[str, int]:
    """The registers the context shows, by name."""
    v = session.machine.vcpus[vcpu]
    return {name: v.read(name) for name in CONTEXT_REGS}


def effect_text(effect: Effect | None) -> str:
    """What an answer's effect does to the machine, in words."""
    return "" if effect is None else effect.describe()


def where(session: Session, address: int) -> str:
    """`0x40080134 <main+0x14>` or just the address."""
    sym = session.machine.image.symbols.describe(address)
    return f"{hexv(address)} <{sym}>" if sym else hexv(address)


def answer_fragments(pending: PendingCall, answer: Answer, label: str, style: str) -> Fragments:
    """`built-in answer: x0 = 0x10001 (1.1)` plus why and effect lines."""
    out = line(("class:label", f"  {label}: "), (style, result_text(pending.trap, answer.regs)))
    if answer.why:
        out += line(("class:hint", f"      {answer.why}"))
    if answer.effect is not None:
        out += line(("class:hint", f"      {effect_text(answer.effect)}"))
    return out


def call_fragments(session: Session, pending: PendingCall) -> Fragments:
    """The decoded call, what the built-in handler would answer, and the answer chosen."""
    t = pending.trap
    call = decode_call(t.fid, t.regs, t.imm, t.conduit)
    f = call.fields
    fn = call.function
    out = line(("class:name", f"{t.conduit.upper()} #{t.imm}"), f" at {where(session, t.pc)}")
    title = (f"{fn.name}" if fn else "unknown function")
    detail = f", {fn.since}; {fn.spec}" if fn else ""
    out += line("  ", ("class:name", title), ("class:service", f"  ({call.service}{detail})"))
    fields = (f"{f.call_type}, {f.width}, OEN {f.oen} ({f.owner}), function {f.number:#06x}"
              + (f", bits 23:16 = {f.mbz:#04x}" if f.mbz else ""))
    out += line(("class:label", "  function ID "), ("class:value", hex32(f.fid)),
                ("class:label", ": "), fields)
    if fn is not None and fn.summary:
        out += line(("class:hint", f"  {fn.summary}"))
    if call.args:
        reg = "w" if arg_mask(f.fid) == MASK32 else "x"
        width = max(len(name) for name, _ in call.args)
        for n, (name, value) in enumerate(call.args, 1):
            out += line(("class:label", f"  {reg}{n} "), f"{name:<{width}} = ",
                        ("class:value", hexv(value)))
    else:
        out += line(("class:label", "  arguments: none"))
    for problem in call.problems:
        out += line(("class:fault", f"  problem: {problem}"))
    for note in call.notes:
        out += line(("class:hint", f"  note: {note}"))
    try:
        out += answer_fragments(pending, session.preview(), "built-in answer", "class:answer")
    except HcdbgError as exc:
        out += line(("class:label", "  built-in answer: "), ("class:fault", str(exc)))
    if pending.answer is None:
        out += line(("class:label", "  answer: "), ("class:pending", "none yet"),
                    ("class:hint", " -- reply VALUE, handle (h) or deny; then c or si"))
    else:
        out += answer_fragments(pending, pending.answer, f"answer ({pending.source})",
                                "class:pending")
        out += line(("class:hint", "      c or si resumes the guest with it"))
    return out


def register_fragments(regs: dict[str, int], before: dict[str, int] | None,
                       columns: int = 3) -> Fragments:
    """Registers in columns; a changed one is marked `*` and styled."""
    out: Fragments = []
    names = list(regs)
    for row in range(0, len(names), columns):
        cells = names[row:row + columns]
        for col, name in enumerate(cells):
            value = regs[name]
            changed = before is not None and before.get(name) != value
            mark = "*" if changed else " "
            text = hexv(value)
            if name == "pstate":
                text += f" {_PSTATE_MODES.get(value & 0xF, '')}".rstrip()
            out.append(("class:changed" if changed else "class:label", f"{mark}{name:>6} "))
            out.append(("class:changed" if changed else "class:value",
                        f"{text:<18}" if col < len(cells) - 1 else text))
        out.append(("", "\n"))
    return out


def code_fragments(session: Session, vcpu: int) -> Fragments:
    """The disassembly around the vCPU's PC."""
    v = session.machine.vcpus[vcpu]
    pc = v.pc

    def read(address: int, size: int) -> bytes:
        return session.machine.read_memory(address, size, vcpu)

    try:
        insns = disasm.window(read, pc)
    except HcdbgError as exc:
        return line(("class:fault", f"   {exc}"))
    return disasm.listing(insns, session.machine.image.symbols, pc)


def context(session: Session, stop: Stop, vcpu: int, before: dict[str, int] | None,
            title: str | None = None) -> Fragments:
    """The whole view for a stop on `vcpu` (`before`: its registers at the last stop)."""
    kind_title = title or _TITLES.get(stop.kind, stop.kind.value)
    out = rule(f"{kind_title}: vCPU {vcpu}")
    pending = session.pending
    if stop.kind is StopKind.CALL and pending is not None and pending.trap.vcpu == vcpu:
        out += call_fragments(session, pending)
    else:
        style = "class:fault" if stop.kind in (StopKind.FAULT, StopKind.EXCEPTION) else "class:stop"
        out += line((style, stop.reason))
        if pending is not None:
            n = pending.trap.vcpu
            out += line(("class:hint", f"(vCPU {n} waits for an answer to its call: 'vcpu {n}' "
                                      "then 'context' shows it)"))
    if stop.kind in (StopKind.POWER_OFF, StopKind.HALTED):
        calls = len(session.history)
        out += line(("class:hint", f"{calls} call(s) answered; the guest cannot continue: "
                                   "'calls' lists them, 'uart' shows its output, 'run' starts "
                                   "it again"))
        return out
    out += rule(f"registers: vCPU {vcpu}")
    out += register_fragments(read_registers(session, vcpu), before)
    out += rule("code")
    out += code_fragments(session, vcpu)
    return out
