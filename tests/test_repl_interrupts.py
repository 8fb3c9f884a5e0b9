"""info gic, info timer, catch irq and info catch on the bundled GIC guests, driven through the
dispatcher (no terminal); the INTID text helpers without a machine.

Expected values come from the guests' design (guests/timer.S, guests/gic-ipi.S headers) and
the specs: IHI 0048B (GICv2) and DDI 0487 D11 (generic timer)."""
from __future__ import annotations

import io
import re

import pytest
from prompt_toolkit.document import Document

from hcdbg.cli.launch import build_session
from hcdbg.cli.parse import repl_options
from hcdbg.render.interrupts import ctl_text, intid_list, microseconds
from hcdbg.repl import intids
from hcdbg.repl.completer import CommandCompleter
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger

CAUGHT_27 = "IRQ 27 taken by vCPU 0 (caught; ELR_EL1 is where it interrupted)"
VTIMER = "PPI 27 (virtual timer)"
PTIMER = "PPI 30 (physical timer)"


def make(*argv: str) -> tuple[Debugger, io.StringIO]:
    """A batch-mode session on a bundled guest, printing into a StringIO."""
    args = repl_options(list(argv))
    out = io.StringIO()
    console = Console(out, color=False)
    return Debugger(build_session(args, console.uart), console, max_insns=args.max_insns), out


def run(dbg: Debugger, out: io.StringIO, line: str, ok: bool = True) -> str:
    """Run one line, check it succeeded (or failed), return what it printed."""
    start = out.tell()
    assert dbg.onecmd(line) is ok, out.getvalue()[start:]
    return out.getvalue()[start:]


def _block(text: str, vcpu: int) -> str:
    """The lines of one vCPU's block in `info gic`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"vCPU {vcpu}:"))
    return "\n".join(lines[start:start + 4])


def _timer(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(name))


def test_catch_irq_27_stops_at_each_virtual_timer_tick_and_shows_gic_and_timer() -> None:
    dbg, out = make("timer")
    # Before the guest's setup, its GIC is all at reset: one line says so.
    text = run(dbg, out, "info gic")
    assert text.startswith("GIC not enabled by the guest yet") and len(text.splitlines()) == 1
    assert "No catchpoints." in run(dbg, out, "info catch")
    text = run(dbg, out, "catch irq 27")
    assert f"when a vCPU takes IRQ {VTIMER}" in text
    assert f"irq        at the IRQ vector: IRQ {VTIMER}" in run(dbg, out, "info catch")

    text = run(dbg, out, "c")
    assert CAUGHT_27 in text
    assert "vtimer: tick 1, CVAL = count + 1 ms" in text  # printed before it armed the timer
    assert "IRQ 27: count" not in text  # the guest's handler has not run yet

    text = run(dbg, out, "info gic")
    # timer.S: GICD_CTLR = 1, GICC_CTLR = 1, GICC_PMR = 0xF0; PPIs 27 and 30 enabled, SGIs
    # enabled from reset (gic.py, QEMU's IMPLEMENTATION DEFINED choice, IHI 0048B §4.3.5).
    assert "Distributor enabled (group 0), GICD_CTLR 0x1; INTIDs 0-287" in text
    block = _block(text, 0)
    assert block.startswith("vCPU 0: CPU interface enabled (group 0), GICC_CTLR 0x1, PMR 0xf0")
    # stopped at the vector, before GICC_IAR: nothing active, RPR idle (§4.4.6), line up
    assert "running priority 0xff (idle), IRQ line up" in block
    assert f"  enabled  SGI 0-15, {VTIMER}, {PTIMER}" in block
    assert f"  pending  {VTIMER}\n" in block + "\n"
    assert "  active   none" in block
    assert run(dbg, out, "info irq 0") == text  # the alias, one vCPU of one

    text = run(dbg, out, "info timer")
    # --deterministic not given: the counter follows the host (62.5 MHz, QEMU virt's CNTFRQ)
    assert "at 62500000 Hz (62.5 MHz), host clock" in text
    assert re.search(r"Timer registers trapped: (native|Python)", text)
    assert "vCPU 0: on, not in WFI" in text  # it was taking the IRQ, not waiting
    virtual = _timer(text, "virtual")
    # CNTV_CTL_EL0 = ENABLE (IMASK clear) and the condition met: ISTATUS (D11.2), line up
    assert "CTL 0x5 [ ENABLE ISTATUS ]" in virtual and virtual.endswith("PPI 27 up")
    tval = int(re.search(r"TVAL (-?\d+) \((-?[\d.]+) us\)", virtual).group(1))
    assert tval <= 0  # TVAL = CVAL - count: the deadline has passed
    physical = _timer(text, "physical")
    assert "CTL 0x0 [ ]" in physical and physical.endswith("PPI 30 down")

    # Three more virtual ticks (2 by CVAL, 3 by TVAL, 5 after IMASK is cleared); PPI 30 is
    # taken without stopping, then the guest passes.
    for tick in ("vtimer: tick 2", "vtimer: tick 3", "vtimer: IMASK cleared"):
        text = run(dbg, out, "c")
        assert tick in text and CAUGHT_27 in text
    assert "IRQ 30: count >= deadline, ISTATUS 1" in text
    text = run(dbg, out, "c")
    assert "PASS\n" in text and "caught" not in text and "FAIL" not in text
    assert "Catchpoint deleted: vCPUs take IRQ PPI 27" in run(dbg, out, "catch irq off")
    assert "No catchpoints." in run(dbg, out, "info catch")
    assert "No IRQ catchpoint." in run(dbg, out, "catch irq off")


def test_catch_irq_sgis_on_four_vcpus() -> None:
    dbg, out = make("gic-ipi")
    assert "IRQs SGI 0-15" in run(dbg, out, "catch irq 0-15")
    text = run(dbg, out, "c")
    # gic-ipi.S: CPU 0 first sends SGI 1 to CPU 1 ("cpu1: SGI 1 from cpu0")
    assert "IRQ 1 taken by vCPU 1 (caught" in text
    text = run(dbg, out, "info gic")
    assert [line[:7] for line in text.splitlines() if line.startswith("vCPU")] == \
        ["vCPU 0:", "vCPU 1:", "vCPU 2:", "vCPU 3:"]
    assert "  pending  SGI 1\n" in _block(text, 1) + "\n"
    assert "IRQ line up" in _block(text, 1) and "IRQ line down" in _block(text, 2)
    for cpu in range(4):  # each CPU set its own banked PMR (§4.4.2)
        assert "PMR 0xf0" in _block(text, cpu) and "  enabled  SGI 0-15" in _block(text, cpu)
    one = run(dbg, out, "info gic 1")
    assert "vCPU 1:" in one and "vCPU 0:" not in one
    assert "*** no vCPU 4: this machine has 4 (0..3)" in run(dbg, out, "info gic 4", ok=False)
    text = run(dbg, out, "info timer 2")
    assert "vCPU 2:" in text and "vCPU 0:" not in text
    run(dbg, out, "catch irq off")
    assert "PASS\n" in run(dbg, out, "c")


def test_deterministic_clock_is_named() -> None:
    dbg, out = make("timer", "--deterministic")
    assert "instruction-counted" in run(dbg, out, "info timer")


@pytest.mark.parametrize("line, message", [
    ("catch irq x", "*** bad INTID 'x': expected a number (27) or a run (0-15)"),
    ("catch irq 27 zz", "*** bad INTID 'zz'"),
    ("catch irq 1020", "*** bad INTID '1020': 1020-1023 are special IDs"),
    ("catch irq 0x400", "*** bad INTID '0x400'"),
    ("catch irq 288", "*** bad INTID '288': this GIC has INTIDs 0-287"),
    ("catch irq 9-3", "*** bad INTID '9-3'"),
    ("catch irq 27 off", "*** catch irq off: 'off' stands alone"),
    ("catch hvc psci trng", "*** catch hvc: one word after it at most"),
    ("info gic x", "*** bad vCPU 'x'"),
    ("info timer 1", "*** no vCPU 1: this machine has 1"),
])
def test_bad_input_is_one_line_and_changes_nothing(line: str, message: str) -> None:
    dbg, out = make("timer")
    text = run(dbg, out, line, ok=False)
    assert text.startswith(message) and "Traceback" not in text
    assert text.count("***") == 1
    assert dbg.session.machine.irq.catching is None


def test_catch_irq_adds_up_like_gdb_catchpoints() -> None:
    dbg, out = make("timer")
    run(dbg, out, "catch irq 30")
    assert f"IRQs {VTIMER}, {PTIMER}" in run(dbg, out, "catch irq 0x1b")
    assert "any IRQ" in run(dbg, out, "catch irq")
    assert "it stopped at any IRQ already" in run(dbg, out, "catch irq 33")
    assert dbg.session.machine.irq.catching == frozenset()
    run(dbg, out, "catch dabt")
    text = run(dbg, out, "info catch")
    assert "exception  data abort" in text and "irq        at the IRQ vector: any IRQ" in text


def test_completion_of_catch_irq_and_vcpus() -> None:
    dbg, _ = make("gic-ipi")
    comp = CommandCompleter(dbg)

    def words(text: str) -> list[str]:
        return [c.text.strip() for c in comp.get_completions(Document(text), None)]

    assert "irq" in words("catch i")
    assert words("catch irq ") == ["off", "27", "30", "33"]
    assert words("catch irq 27 ") == ["27", "30", "33"]
    assert words("catch dabt ") == ["off"]
    assert "psci" in words("catch hvc ps")
    assert words("info gic ") == ["0", "1", "2", "3"]
    assert {"gic", "timer", "catch"} <= set(words("info "))


def test_intid_text_without_a_machine() -> None:
    ids = [*range(16), 16, 17, 18, 27, 30, 33, 40, 41, 42, 50]
    assert intid_list(ids, intids.KNOWN) == (
        "SGI 0-15, PPI 16-18, PPI 27 (virtual timer), PPI 30 (physical timer), "
        "SPI 33 (PL011 UART), SPI 40-42, SPI 50")
    assert intid_list([14, 15, 16, 17, 31, 32], {}) == "SGI 14-15, PPI 16-17, PPI 31, SPI 32"
    assert intid_list([], intids.KNOWN) == "none"
    assert ctl_text(7) == "0x7 [ ENABLE IMASK ISTATUS ]" and ctl_text(0) == "0x0 [ ]"
    assert microseconds(-62_500, 62_500_000) == "-1000.000 us"
    assert intids.parse(["0-3", "27", "0x1e"], 288) == frozenset({0, 1, 2, 3, 27, 30})
