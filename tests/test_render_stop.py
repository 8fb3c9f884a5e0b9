"""Drawing a stop from a `StopView` made by hand: no Unicorn, no session (issue 12.3).

The call is PSCI CPU_ON as DEN0022D.b §5.1.4 gives it (function ID 0xC4000003, SMC64:
target_cpu, entry_point_address, context_id; SUCCESS is 0), made with HVC #0 at a PC
whose code is written out as A64 words."""
from __future__ import annotations

from hcdbg.code import CodeBytes
from hcdbg.render.context import context
from hcdbg.render.style import plain
from hcdbg.smccc.call import Answer, Call
from hcdbg.smccc.decode import decode_call
from hcdbg.smccc.effects import CpuOn
from hcdbg.smccc.source import BY_USER
from hcdbg.stop import SHOWN_REGISTERS, CallView, Stop, StopKind, StopView

MAIN = 0x4008_0000
HVC_PC = MAIN + 0x8
#: movz x0, #0; movz x1, #1; hvc #0; b.eq . + 8; nop   (Arm ARM C6.2)
WORDS = (0xD280_0000, 0xD280_0021, 0xD400_0002, 0x5400_0040, 0xD503_201F)
CPU_ON = 0xC400_0003


class Names:
    """Symbols for the test: `main` at MAIN, `done` 16 bytes on."""

    def describe(self, address: int) -> str | None:
        for name, at in (("done", MAIN + 0x10), ("main", MAIN)):
            if address >= at:
                return name if address == at else f"{name}+{address - at:#x}"
        return None


def cpu_on_view(answer: Answer | None = None) -> StopView:
    regs = [CPU_ON, 1, 0x4008_0400, 0x1001] + [0] * 14
    trap = Call(CPU_ON, tuple(regs), "hvc", 0, 0, HVC_PC)
    built_in = Answer({0: 0}, CpuOn(1, 0x4008_0400, 0x1001), "CPU_ON: the target vCPU was off")
    call = CallView(trap, decode_call(CPU_ON, trap.regs), built_in, answer=answer,
                    source=BY_USER)
    values = dict.fromkeys(SHOWN_REGISTERS, 0) | {f"x{n}": v for n, v in enumerate(regs[:4])}
    values |= {"sp": 0x4008_2FC0, "pc": HVC_PC + 4, "pstate": 0x3C5}
    code = CodeBytes(MAIN, b"".join(w.to_bytes(4, "little") for w in WORDS))
    return StopView(Stop(StopKind.CALL, 0, HVC_PC + 4, "forwarded call", trap), 0, Names(),
                    tuple(values.items()), frozenset({"x0", "x1"}), code, call=call)


def test_a_forwarded_call_draws_from_its_view() -> None:
    lines = plain(context(cpu_on_view())).splitlines()
    assert lines[0].startswith("----[ forwarded call: vCPU 0 ]----")
    assert lines[1] == "HVC #0 at 0x40080008 <main+0x8>"
    assert lines[2].startswith("  PSCI_CPU_ON  (psci, PSCI 0.2; DEN0022D.b §5.1.4)")
    assert "  function ID 0xc4000003: fast, SMC64, OEN 4 (Standard Secure), function 0x0003" in lines
    assert "  x1 target_cpu          = 0x1" in lines
    assert "  x2 entry_point_address = 0x40080400" in lines
    assert "  x3 context_id          = 0x1001" in lines
    assert "  built-in answer: 0 SUCCESS" in lines
    assert "      then starts vCPU 1 at 0x40080400 (x0 = 0x1001)" in lines
    assert "  answer: none yet -- reply VALUE, handle (h) or deny; then c or si" in lines


def test_registers_mark_what_changed() -> None:
    text = plain(context(cpu_on_view()))
    assert "*    x0 0xc4000003        *    x1 0x1                    x2 0x40080400\n" in text
    assert "    x30 0x0                    sp 0x40082fc0             pc 0x4008000c\n" in text
    assert " pstate 0x3c5 EL1h\n" in text


def test_code_lines_name_addresses_and_branch_targets() -> None:
    text = plain(context(cpu_on_view()))
    code = text.split("[ code ]")[1].splitlines()[1:]
    assert code == ["   0x40080000 <main>:\tmov     x0, #0",
                    "   0x40080004 <main+0x4>:\tmov     x1, #1",
                    "   0x40080008 <main+0x8>:\thvc     #0",
                    "=> 0x4008000c <main+0xc>:\tb.eq    #0x40080014 <done+0x4>",
                    "   0x40080010 <done>:\tnop"]


def test_the_chosen_answer_is_drawn_with_who_chose_it() -> None:
    text = plain(context(cpu_on_view(Answer({0: 0xFFFF_FFFF_FFFF_FFFC}, None, "answered by hand"))))
    assert "  answer (reply): -4 ALREADY_ON\n      answered by hand\n" in text
    assert "      c or si resumes the guest with it\n" in text


def test_a_refused_dry_run_and_unreadable_code_draw_as_faults() -> None:
    view = cpu_on_view()
    assert view.call is not None
    refused = CallView(view.call.trap, view.call.decoded, None, "no PSCI in this profile")
    bare = StopView(view.stop, 0, Names(), view.registers, code=None,
                    code_error="0x4008000c is not mapped", call=refused)
    text = plain(context(bare))
    assert "  built-in answer: no PSCI in this profile\n" in text
    assert text.endswith("[ code ]" + "-" * 60 + "\n   0x4008000c is not mapped\n")


def test_a_powered_off_stop_shows_no_registers() -> None:
    view = StopView(Stop(StopKind.POWER_OFF, 0, 0, "PSCI_SYSTEM_OFF"), 0, Names(), (),
                    answered=3, waiting=None)
    assert plain(context(view)).splitlines()[1:] == [
        "PSCI_SYSTEM_OFF",
        "3 call(s) answered; the guest cannot continue: 'calls' lists them, 'uart' shows "
        "its output, 'run' starts it again"]
