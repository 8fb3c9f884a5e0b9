"""The context view shown at every stop: why, the call (decoded, previewed), registers, code.

Draws a `StopView` (hcdbg/stop.py), which the session reads off the machine: nothing here
touches a machine or a session, so a saved or hand-made view draws the same.
"""
from __future__ import annotations

from hcdbg.code import CodeBytes
from hcdbg.render import disasm
from hcdbg.render.call_lines import hexv, result_text
from hcdbg.render.style import Fragments, line, rule
from hcdbg.smccc.call import Answer, Call
from hcdbg.smccc.decode import arg_mask, hex32
from hcdbg.smccc.effects import Effect
from hcdbg.smccc.ids import MASK32
from hcdbg.stop import CallView, StopKind, StopView, SymbolNames

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


def effect_text(effect: Effect | None) -> str:
    """What an answer's effect does to the machine, in words."""
    return "" if effect is None else effect.describe()


def where(symbols: SymbolNames, address: int) -> str:
    """`0x40080134 <main+0x14>` or just the address."""
    sym = symbols.describe(address)
    return f"{hexv(address)} <{sym}>" if sym else hexv(address)


def answer_fragments(trap: Call, answer: Answer, label: str, style: str) -> Fragments:
    """`built-in answer: x0 = 0x10001 (1.1)` plus why and effect lines."""
    out = line(("class:label", f"  {label}: "), (style, result_text(trap, answer.regs)))
    if answer.why:
        out += line(("class:hint", f"      {answer.why}"))
    if answer.effect is not None:
        out += line(("class:hint", f"      {effect_text(answer.effect)}"))
    return out


def call_fragments(view: CallView, symbols: SymbolNames) -> Fragments:
    """The decoded call, what the built-in handler would answer, and the answer chosen."""
    t = view.trap
    call = view.decoded
    f = call.fields
    fn = call.function
    out = line(("class:name", f"{t.conduit.upper()} #{t.imm}"), f" at {where(symbols, t.pc)}")
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
    if view.built_in is not None:
        out += answer_fragments(t, view.built_in, "built-in answer", "class:answer")
    else:
        out += line(("class:label", "  built-in answer: "), ("class:fault", view.refusal))
    if view.answer is None:
        out += line(("class:label", "  answer: "), ("class:pending", "none yet"),
                    ("class:hint", " -- reply VALUE, handle (h) or deny; then c or si"))
    else:
        out += answer_fragments(t, view.answer, f"answer ({view.source})", "class:pending")
        out += line(("class:hint", "      c or si resumes the guest with it"))
    return out


def register_fragments(regs: tuple[tuple[str, int], ...], changed: frozenset[str],
                       columns: int = 3) -> Fragments:
    """Registers in columns; a changed one is marked `*` and styled."""
    out: Fragments = []
    for row in range(0, len(regs), columns):
        cells = regs[row:row + columns]
        for col, (name, value) in enumerate(cells):
            hot = name in changed
            mark = "*" if hot else " "
            text = hexv(value)
            if name == "pstate":
                text += f" {_PSTATE_MODES.get(value & 0xF, '')}".rstrip()
            out.append(("class:changed" if hot else "class:label", f"{mark}{name:>6} "))
            out.append(("class:changed" if hot else "class:value",
                        f"{text:<18}" if col < len(cells) - 1 else text))
        out.append(("", "\n"))
    return out


def code_fragments(code: CodeBytes | None, error: str, symbols: SymbolNames,
                   pc: int) -> Fragments:
    """The disassembly around the PC, or why it could not be read."""
    if code is None:
        return line(("class:fault", f"   {error}"))
    return disasm.listing(disasm.code_insns(code), symbols, pc)


def context(view: StopView) -> Fragments:
    """The whole view of a stop on one vCPU."""
    stop = view.stop
    out = rule(f"{view.title or _TITLES.get(stop.kind, stop.kind.value)}: vCPU {view.vcpu}")
    if view.call is not None:
        out += call_fragments(view.call, view.symbols)
    else:
        style = "class:fault" if stop.kind in (StopKind.FAULT, StopKind.EXCEPTION) else "class:stop"
        out += line((style, stop.reason))
        if view.waiting is not None:
            n = view.waiting
            out += line(("class:hint", f"(vCPU {n} waits for an answer to its call: 'vcpu {n}' "
                                      "then 'context' shows it)"))
    if stop.kind in (StopKind.POWER_OFF, StopKind.HALTED):
        out += line(("class:hint", f"{view.answered} call(s) answered; the guest cannot continue: "
                                   "'calls' lists them, 'uart' shows its output, 'run' starts "
                                   "it again"))
        return out
    out += rule(f"registers: vCPU {view.vcpu}")
    out += register_fragments(view.registers, view.changed)
    out += rule("code")
    out += code_fragments(view.code, view.code_error, view.symbols, view.pc)
    return out
