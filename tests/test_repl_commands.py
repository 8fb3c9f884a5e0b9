"""The REPL's commands on real guests, driven through the dispatcher (no terminal), and
batch mode through the real command line."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from hcdbg.cli.launch import build_session
from hcdbg.cli.parse import repl_options
from hcdbg.repl import commands as K
from hcdbg.repl.console import Console
from hcdbg.repl.debugger import Debugger


def make(*argv: str, ask=None) -> tuple[Debugger, io.StringIO]:  # noqa: ANN001
    args = repl_options(list(argv))
    out = io.StringIO()
    console = Console(out, color=False)
    dbg = Debugger(build_session(args, console.uart), console, ask=ask, max_insns=args.max_insns)
    return dbg, out


def run(dbg: Debugger, out: io.StringIO, line: str, ok: bool = True) -> str:
    """Run one line, check it succeeded (or failed), return what it printed."""
    start = out.tell()
    assert dbg.onecmd(line) is ok, out.getvalue()[start:]
    return out.getvalue()[start:]


def raw_guest(tmp_path: Path, *words: int) -> str:
    path = tmp_path / "guest.bin"
    path.write_bytes(b"".join(w.to_bytes(4, "little") for w in words))
    return str(path)


PSCI_TOUR = ("psci-tour", "--smp", "2")


def test_answer_by_hand_forward_handle_deny_then_power_off() -> None:
    dbg, out = make(*PSCI_TOUR)
    run(dbg, out, "filter add psci forward")
    text = run(dbg, out, "c")
    assert "[ forwarded call: vCPU 0 ]" in text
    assert "PSCI_VERSION" in text and "function ID 0x84000000: fast, SMC32, OEN 4" in text
    assert "built-in answer: 0x10001 (1.1)" in text
    assert "answer: none yet" in text
    assert "=> 0x" in text and "hvc     #0" in text
    run(dbg, out, "reply 0x20000")
    text = run(dbg, out, "reply 0x10000")  # a second reply replaces the first
    assert "answer (reply) for PSCI_VERSION on vCPU 0: 0x10000 (1.0)" in text
    text = run(dbg, out, "c")
    assert "PSCI_VERSION -> 0x0000000000010000\n" in text
    assert "PSCI_FEATURES" in text and "w1 psci_func_id = 0x84000000" in text
    text = run(dbg, out, "handle")
    assert "answer (handle) for PSCI_FEATURES on vCPU 0: 0x0" in text
    text = run(dbg, out, "c")
    assert "PSCI_FEATURES(0x84000000) -> 0x0000000000000000" in text
    run(dbg, out, "deny")
    text = run(dbg, out, "c")
    assert "PSCI_FEATURES(0x84000001) -> 0xffffffffffffffff" in text
    run(dbg, out, "filter del")
    run(dbg, out, "h")
    text = run(dbg, out, "c")
    assert "SYSTEM_OFF\n" in text and "[ powered off: vCPU 0 ]" in text
    text = run(dbg, out, "calls")
    assert "#1" in text and "PSCI_VERSION() = 0x10000 (1.0)  <reply>" in text
    assert "<deny>" in text
    assert "PSCI_CPU_ON" in run(dbg, out, "calls PSCI_CPU_ON")
    assert "(1 of " in run(dbg, out, "calls reply")
    assert "No call matches." in run(dbg, out, "calls vcpu 1 deny")
    assert "cannot continue" in run(dbg, out, "c", ok=False)
    assert "PSCI_VERSION -> 0x0000000000010000" in run(dbg, out, "uart")


def test_continue_without_an_answer_asks_once_or_fails_in_batch() -> None:
    dbg, out = make("hello", "--forward", "psci")
    run(dbg, out, "c")
    pc = dbg.vcpu.pc
    text = run(dbg, out, "c", ok=False)
    assert text.startswith("*** PSCI_SYSTEM_OFF on vCPU 0 has no answer yet")
    assert dbg.vcpu.pc == pc and dbg.session.pending is not None

    questions: list[str] = []
    dbg.ask = lambda q: questions.append(q) or False
    assert "not resumed" in run(dbg, out, "c", ok=False)
    dbg.ask = lambda q: questions.append(q) or True
    assert "[ powered off" in run(dbg, out, "c")
    assert len(questions) == 2 and "built-in answer" in questions[0]


def test_reply_is_refused_when_not_at_a_call_and_state_is_kept() -> None:
    dbg, out = make("hello")
    text = run(dbg, out, "reply 0", ok=False)
    assert text == ("*** not stopped at a call: reply, handle and deny answer a forwarded "
                    "call (the guest has not started)\n")
    assert run(dbg, out, "handle", ok=False).startswith("*** not stopped at a call")
    assert run(dbg, out, "deny", ok=False).startswith("*** not stopped at a call")
    dbg2, out2 = make("hello", "--forward", "psci")
    run(dbg2, out2, "c")
    assert "named 'NOT_A_CODE'" in run(dbg2, out2, "reply 0 NOT_A_CODE", ok=False)
    assert dbg2.session.pending.answer is None  # the good value before it was not kept
    assert "x0 given twice" in run(dbg2, out2, "reply 1 x0=2", ok=False)


def test_every_command_that_needs_a_call_fails_alike_when_not_at_one() -> None:
    K.load_all()
    at_call = sorted(c.name for c in K.REGISTRY.values() if c.needs_call)
    assert at_call == ["deny", "handle", "reply"]
    head = "*** not stopped at a call: reply, handle and deny answer a forwarded"
    dbg, out = make("hello")
    run(dbg, out, "b main")
    errors = []
    for then in ("c", "c", None):  # not started; at a breakpoint; powered off
        texts = {run(dbg, out, f"{name} 0" if name == "reply" else name, ok=False)
                 for name in at_call}
        assert len(texts) == 1, texts  # the same words from each
        errors.append(texts.pop())
        if then is not None:
            run(dbg, out, then)
    main = dbg.session.machine.image.symbols.lookup("main")
    whys = ["the guest has not started", f"stopped: breakpoint at {main:#x}",
            "stopped: guest powered off (PSCI_SYSTEM_OFF)"]
    assert errors == [f"{head} call ({why})\n" for why in whys]


def test_return_codes_resolve_in_the_call_service() -> None:
    dbg, out = make("trng", "--forward", "trng")
    run(dbg, out, "c")
    text = run(dbg, out, "reply NO_ENTROPY")  # a TRNG-only name: -3
    assert "-3 NO_ENTROPY" in text
    dbg, out = make(*PSCI_TOUR, "--forward", "PSCI_VERSION")
    run(dbg, out, "c")
    assert "-2 INVALID_PARAMETERS" in run(dbg, out, "reply INVALID_PARAMETERS")


def test_breakpoints_tbreak_delete_and_info() -> None:
    dbg, out = make("hello")
    assert run(dbg, out, "b main").startswith("Breakpoint 1 at 0x")
    assert run(dbg, out, "tbreak puts").startswith("Temporary breakpoint 2 at")
    text = run(dbg, out, "info breakpoints")
    assert "keep" in text and "del" in text
    text = run(dbg, out, "c")
    assert "[ breakpoint 1: vCPU 0 ]" in text and "=> 0x" in text and "<main>" in text
    assert "[ breakpoint 2: vCPU 0 ]" in run(dbg, out, "c")
    text = run(dbg, out, "info b")
    assert "puts" not in text and "1" in text  # the temporary one is gone, hits counted
    assert "no breakpoint number 7" in run(dbg, out, "delete 7", ok=False)
    run(dbg, out, "delete 1")
    assert run(dbg, out, "info b") == "No breakpoints.\n"
    assert "not mapped" in run(dbg, out, "break 0x10", ok=False)
    assert "aligned" in run(dbg, out, "break main+2", ok=False)
    assert "named 'mian' (registers take a $: $x0, $pc); did you mean main?" in run(dbg, out, "break mian", ok=False)
    assert "[ powered off" in run(dbg, out, "c")


def test_stepi_nexti_and_vcpu_focus() -> None:
    dbg, out = make("hello")
    run(dbg, out, "b main")
    run(dbg, out, "c")
    main = dbg.session.machine.image.symbols.lookup("main")
    run(dbg, out, "si 2")
    assert dbg.vcpu.pc == main + 8  # at bl puts
    text = run(dbg, out, "ni")
    assert "Hello from hello" in text and dbg.vcpu.pc == main + 12
    assert dbg.session.machine.breakpoints == {main}  # the step-over breakpoint is gone
    assert "no vCPU 3" in run(dbg, out, "vcpu 3", ok=False)
    assert "[vCPU 0] on" in run(dbg, out, "vcpu")


def test_registers_set_and_examine() -> None:
    dbg, out = make("hello")
    assert run(dbg, out, "info registers pc x0").startswith("pc         0x40080000")
    assert "unknown register 'x99'" in run(dbg, out, "info registers x99", ok=False)
    assert run(dbg, out, "set $x0 = 0x1234") == "x0 = 0x1234\n"
    assert run(dbg, out, "set var $x1=NOT_SUPPORTED") == "x1 = 0xffffffffffffffff\n"
    assert run(dbg, out, "set $x2 = main + 4").startswith("x2 = 0x")
    assert dbg.register("x0") == 0x1234
    assert "unknown register '$q0'" in run(dbg, out, "set $q0 = 1", ok=False)
    assert "expected set $REG = VALUE" in run(dbg, out, "set $x0 1", ok=False)
    assert dbg.register("x0") == 0x1234
    text = run(dbg, out, "x/2xw $pc")
    assert text.startswith("0x40080000 <_start>:\t0x")
    assert run(dbg, out, "x").startswith("0x40080008 <_start+0x8>:")  # goes on
    assert "greeting>:\t\"Hello from hello\\n\"" in run(dbg, out, "x/s greeting")
    assert "=> 0x40080000 <_start>:" in run(dbg, out, "x/2i $pc")
    assert "cannot access memory at 0x0: not mapped" in run(dbg, out, "x/4xg 0", ok=False)
    assert "_start" in run(dbg, out, "disassemble")
    assert len(run(dbg, out, "disas main 3").splitlines()) == 3
    assert run(dbg, out, "info symbol main+8") == "main + 8\n"
    assert run(dbg, out, "info symbol 0x10") == "No symbol matches 0x10.\n"


def test_filter_ranges_overlap_rollback_default_and_export() -> None:
    dbg, out = make("hello")
    flt = dbg.session.filter
    run(dbg, out, "filter add 0xc4000000-0xc400001f deny")
    text = run(dbg, out, "filter add psci forward", ok=False)
    assert "overlaps filter entry" in text
    assert [str(r) for r in flt.entries()] == ["0xc4000000-0xc400001f"]  # rolled back
    assert "deny" in run(dbg, out, "filter del 1")
    run(dbg, out, "filter add psci forward hvc")
    text = run(dbg, out, "filter list")
    assert text.splitlines()[0].startswith("Num  Range")
    assert "forward  hvc      psci" in text and "default: handle" in text
    assert "no filter entry inside" in run(dbg, out, "filter del PSCI_VERSION", ok=False)
    assert run(dbg, out, "filter del psci").count("Deleted") == 3
    assert "no filter entry 9" in run(dbg, out, "filter del 9", ok=False)
    assert "bad range" in run(dbg, out, "filter add pcsi forward", ok=False)
    assert "bad action" in run(dbg, out, "filter add psci maybe", ok=False)
    run(dbg, out, "filter default deny")
    assert flt.default.value == "deny"
    run(dbg, out, "filter default handle")
    run(dbg, out, "filter del")
    # entries 1 to 4 were deleted: numbers are never given twice (gdb's breakpoints)
    assert run(dbg, out, "catch smc").startswith("Catchpoint (filter entry 5): stop at "
                                                  "0x00000000-0xffffffff (forward, smc)")
    # catch fills only what no entry decides yet: smc is all taken by entry 5, so
    # 'catch call trng' adds trng's hvc side alone (its SMC32 and SMC64 IDs).
    text = run(dbg, out, "catch call trng")
    assert text.count("Catchpoint") == 2 and text.count("(forward, hvc)") == 2
    assert "nothing to catch" in run(dbg, out, "catch hvc TRNG_VERSION", ok=False)
    # hello calls through HVC only: the smc catchpoint does not stop it
    assert "[ powered off" in run(dbg, out, "c")
    run(dbg, out, "filter del")
    run(dbg, out, "filter add 0x86000000+0x10 forward")
    text = run(dbg, out, "filter export kvm")
    assert "struct kvm_smccc_filter filters[] = {" in text
    assert ("{ .base = 0x86000000, .nr_functions = 0x10, .action = "
            "KVM_SMCCC_FILTER_FWD_TO_USER }," in text)
    assert "// note:" in text


def test_catch_hvc_stops_at_the_first_call() -> None:
    dbg, out = make("hello")
    run(dbg, out, "catch hvc")
    assert "PSCI_SYSTEM_OFF" in run(dbg, out, "c")


def test_catch_dabt_stops_before_the_guests_vectors_then_off_lets_them_take_it() -> None:
    # guests/exceptions loads from 0x0900_1000, where nothing is (a synchronous external abort,
    # ESR 0x96000010 under QEMU 7.2: tests/test_guests_qemu.py).
    dbg, out = make("exceptions")
    assert "Catchpoint: stop at each data abort" in run(dbg, out, "catch dabt")
    text = run(dbg, out, "c")
    assert "data abort at " in text and "(ESR 0x96000010, FAR 0x9001000): caught" in text
    assert "LOAD esr=" not in text  # the guest's handler has not run
    assert "Catchpoint deleted" in run(dbg, out, "catch dabt off")
    text = run(dbg, out, "c")
    assert "LOAD esr=0x96000010" in text and "DABT esr=0x96000005" in text
    assert "expected nothing or 'off'" in run(dbg, out, "catch dabt on", ok=False)


def test_answer_rules() -> None:
    dbg, out = make(*PSCI_TOUR)
    assert run(dbg, out, "answer PSCI_VERSION -> 0x10003") == \
        "answer rule 1: PSCI_VERSION -> 0x10003\n"
    run(dbg, out, "answer PSCI_CPU_ON x1=0x1 -> INTERNAL_FAILURE")
    assert "missing '->'" in run(dbg, out, "answer PSCI_VERSION 5", ok=False)
    text = run(dbg, out, "answer list")
    assert "1    0        PSCI_VERSION -> 0x10003" in text
    text = run(dbg, out, "c")
    assert "PSCI_VERSION -> 0x0000000000010003" in text
    assert "CPU_ON(0x1) -> 0xfffffffffffffffa" in text  # INTERNAL_FAILURE = -6
    assert "<rule 1>" in run(dbg, out, "calls rule")
    assert "1    1" in run(dbg, out, "answer")
    assert "Deleted answer rule 1" in run(dbg, out, "answer del 1")
    assert "no answer rule 5" in run(dbg, out, "answer del 5", ok=False)


def test_calls_by_source_counts_replayed_answers_too(tmp_path: Path) -> None:
    """Issue 12: a replayed built-in answer is a built-in answer (`calls handle` once
    missed `<replay handle>` calls: it compared the source's spelling)."""
    script = tmp_path / "trng.calls"
    script.write_text('{"name": "TRNG_VERSION", "answer": "0x10000"}\n'
                      '{"name": "TRNG_FEATURES"}\n')
    dbg, out = make("trng")
    run(dbg, out, f"replay {script}")
    assert "past the script's end" in run(dbg, out, "c")
    handled = run(dbg, out, "calls handle")
    assert "TRNG_FEATURES(function_id=0x84000050) = 0x0  <replay handle>" in handled
    assert "TRNG_VERSION" not in handled and "(1 of 2 calls)" in handled
    replied = run(dbg, out, "calls reply")
    assert "TRNG_VERSION() = 0x10000 (1.0)  <replay reply>" in replied and "FEATURES" not in replied
    assert run(dbg, out, "calls deny") == "No call matches.\n"


def test_run_and_reset_start_a_new_run() -> None:
    dbg, out = make("hello")
    run(dbg, out, "c")
    assert "SYSTEM_OFF" in run(dbg, out, "uart")
    text = run(dbg, out, "reset")
    assert "[ reset: vCPU 0 ]" in text and "=> 0x40080000 <_start>" in text
    assert run(dbg, out, "calls") == "No calls yet.\n"
    assert run(dbg, out, "uart") == "(no UART output yet)\n"
    text = run(dbg, out, "run")
    assert text.count("Hello from hello") == 1 and "[ powered off" in text
    assert len(run(dbg, out, "calls").splitlines()) == 1



def test_a_reply_to_cpu_on_says_the_target_stays_off() -> None:
    # A reply writes registers only: the guest would wait for a CPU that never starts.
    dbg, out = make(*PSCI_TOUR)
    run(dbg, out, "filter add PSCI_CPU_ON forward")
    run(dbg, out, "c")
    text = run(dbg, out, "reply 0")
    assert "vCPU 1 stays off: a reply only writes registers ('handle' starts it)" in text
    assert "stays off" not in run(dbg, out, "handle")
    run(dbg, out, "filter add PSCI_SYSTEM_OFF forward")
    run(dbg, out, "filter del PSCI_CPU_ON")
    run(dbg, out, "c")
    assert "then powers the machine off" in run(dbg, out, "reply 0")


def test_a_denied_cpu_on_says_the_target_stays_off_and_it_does() -> None:
    dbg, out = make(*PSCI_TOUR)
    run(dbg, out, "filter add PSCI_CPU_ON forward")
    run(dbg, out, "c")
    text = run(dbg, out, "deny")
    assert "-1 NOT_SUPPORTED" in text
    assert "vCPU 1 stays off: a denied call changes nothing ('handle' starts it)" in text
    assert "stays off" not in run(dbg, out, "handle")
    run(dbg, out, "deny")
    run(dbg, out, "filter del PSCI_CPU_ON")
    run(dbg, out, "c")  # the guest goes on to SYSTEM_OFF with vCPU 1 never started
    assert "[vcpu1]" not in run(dbg, out, "calls")

@pytest.mark.parametrize("restart", ["reset", "run"])
def test_run_and_reset_number_the_calls_of_the_new_run_from_1(restart: str) -> None:
    dbg, out = make(*PSCI_TOUR, ask=lambda _q: True)
    run(dbg, out, "filter add PSCI_CPU_ON forward")
    run(dbg, out, "c")
    first = run(dbg, out, "calls").splitlines()
    run(dbg, out, restart)
    if restart == "reset":
        run(dbg, out, "c")
    assert run(dbg, out, "calls").splitlines() == first  # numbered #1.. again, not #41..
    rows = run(dbg, out, "checkpoints").splitlines()[1:]
    assert [row.split()[-1] for row in rows] == ["0", str(len(first))]  # calls made by each


def test_info_vcpus_explain_and_firmware() -> None:
    dbg, out = make(*PSCI_TOUR, "--forward", "PSCI_CPU_OFF")
    run(dbg, out, "c")  # vCPU 1 calls CPU_OFF
    text = run(dbg, out, "info vcpus")
    assert "* 1" in text and "(at PSCI_CPU_OFF)" in text and "  0 " in text
    text = run(dbg, out, "explain")
    assert text.startswith("0x84000002: PSCI_CPU_OFF (SMC32), service psci")
    text = run(dbg, out, "explain CPU_ON")
    assert "0x84000003" in text and "0xc4000003" in text and "target_cpu" in text
    assert "unknown function or service" in run(dbg, out, "explain FOO_BAR", ok=False)
    assert "kvm" in run(dbg, out, "info firmware").lower()


def test_fault_stop_is_shown_and_final(tmp_path: Path) -> None:
    guest = raw_guest(tmp_path, 0xF9400020)  # ldr x0, [x1] with x1 = 0: unmapped
    dbg, out = make(guest, "--load", "0x40080000")
    text = run(dbg, out, "c")
    assert "[ fault: vCPU 0 ]" in text and "unmapped" in text
    assert "cannot continue" in run(dbg, out, "c", ok=False)


def test_unknown_command_suggests_and_internal_errors_are_one_line(monkeypatch) -> None:
    dbg, out = make("hello")
    assert run(dbg, out, "contineu", ok=False) == \
        '*** undefined command: "contineu"; did you mean "continue"?  Try "help".\n'
    assert run(dbg, out, "x/4xq $sp", ok=False).startswith("*** bad format letter 'q'")
    assert "ambiguous command" in run(dbg, out, "s", ok=False)

    from hcdbg.repl import commands as K

    def boom(dbg, args):  # noqa: ANN001
        raise RuntimeError("kaboom")

    monkeypatch.setattr(K.REGISTRY["uart"], "func", boom)
    text = run(dbg, out, "uart", ok=False)
    assert text == "*** internal error: RuntimeError: kaboom (run with --debug to see the traceback)\n"
    dbg.debug = True
    assert "Traceback" in run(dbg, out, "uart", ok=False)


# --- batch mode through the real command line -------------------------------------------

def hcdbg(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hcdbg", *argv], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_batch_exit_status_and_scripts(tmp_path: Path) -> None:
    ok = hcdbg("--batch", "-ex", "c", "hello")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Hello from hello" in ok.stdout and "[ powered off" in ok.stdout
    assert "\x1b[" not in ok.stdout  # plain text
    bad = hcdbg("--batch", "-ex", "reply 1", "-ex", "c", "hello")
    assert bad.returncode == 1
    assert "*** not stopped at a call" in bad.stderr and "[ powered off" in bad.stdout
    script = tmp_path / "s.hcdbg"
    script.write_text("# a comment\n\nfilter add psci forward\nc\nhandle\nc\necho done\n")
    res = hcdbg("--batch", "-x", str(script), "hello")
    assert res.returncode == 0 and "PSCI_SYSTEM_OFF" in res.stdout and "done" in res.stdout
    script.write_text("nosuch\necho never\n")  # a script stops at its first error
    res = hcdbg("--batch", "-x", str(script), "-ex", "echo after", "hello")
    assert res.returncode == 1 and "never" not in res.stdout and "after" in res.stdout
    res = hcdbg("--batch", "-x", str(tmp_path / "missing"), "hello")
    assert res.returncode == 1 and "*** " in res.stderr


def test_commands_from_a_pipe_without_batch() -> None:
    res = subprocess.run([sys.executable, "-m", "hcdbg", "hello"], input="c\nquit\n",
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "(hcdbg) " in res.stdout and "Hello from hello" in res.stdout


def test_a_misaligned_pc_is_a_pc_alignment_fault_as_in_qemu() -> None:
    # QEMU 7.2: EC 0x22, ELR = FAR = the PC (it was ESR 0x02000000, or the misaligned bytes ran).
    dbg, out = make("exceptions")
    run(dbg, out, "set $pc = $pc + 2")  # before the vCPU has run anything
    assert ("prefetch abort at 0x40080002 (ESR 0x8a000000, FAR 0x40080002): the guest has no "
            "vector table") in run(dbg, out, "si")
    dbg, out = make("exceptions")
    run(dbg, out, "break do_svc")
    run(dbg, out, "c")  # the guest's vectors are in place
    run(dbg, out, "set $pc = $pc + 2")
    run(dbg, out, "si")
    regs = run(dbg, out, "info registers esr_el1 elr_el1 far_el1")
    assert "esr_el1    0x8a000000" in regs
    assert "elr_el1    0x400809d6           0x400809d6 <do_svc+0x2>" in regs
    assert "far_el1    0x400809d6" in regs
