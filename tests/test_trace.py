"""`hcdbg trace` on the real bundled guests: every call decoded, answered, and the run ends."""
from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GUESTS, ROOT, run_hcdbg

INDEX = json.loads((GUESTS / "guests.json").read_text())
NAMES = [g["name"] for g in INDEX]
LINE = re.compile(r"\[vcpu(\d+)\] (hvc|smc)#(\d+) (\S+)\((.*)\) = (.*)")


def calls(stderr: str) -> list[re.Match]:
    return [m for m in map(LINE.match, stderr.splitlines()) if m]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("smp", [None, "4"])
def test_every_guest_powers_off(name: str, smp: str | None) -> None:
    args = ["trace", name, "--seed", "7", "--max-insns", "2000000000", "--no-reboot"] \
        + (["--smp", smp] if smp else [])
    r = run_hcdbg(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    if name == "reset":
        assert "+++ guest reset (PSCI_SYSTEM_RESET); no-reboot" in r.stderr
        return
    assert r.stderr.rstrip().endswith("+++ guest powered off (PSCI_SYSTEM_OFF)")
    assert r.stdout.rstrip().endswith("SYSTEM_OFF")


def test_smccc_probe_decodes_every_call_by_name() -> None:
    r = run_hcdbg("trace", "smccc-probe")
    assert r.returncode == 0
    names = [m[4] for m in calls(r.stderr)]
    assert names == ["PSCI_VERSION", "PSCI_FEATURES", "SMCCC_VERSION"] + ["SMCCC_ARCH_FEATURES"] * 6 \
        + ["SMCCC_ARCH_SOC_ID"] * 2 + ["PSCI_SYSTEM_OFF"]
    # KVM answers (reference §6 rows 2-4): SMCCC 1.1, PSCI_FEATURES(SMCCC_VERSION) = 0,
    # ARCH_FEATURES(SOC_ID) = NOT_SUPPORTED.
    assert "SMCCC_VERSION -> 0x0000000000010001" in r.stdout
    assert "PSCI_FEATURES(0x80000000) -> 0x0000000000000000" in r.stdout
    assert "SMCCC_ARCH_FEATURES(0x80000002) -> 0xffffffffffffffff" in r.stdout
    assert "SMCCC_ARCH_FEATURES(function_id=0x80000002) = -1 NOT_SUPPORTED" in r.stderr


def test_conduits_shows_both_conduits_and_flags_the_immediate() -> None:
    r = run_hcdbg("trace", "conduits")
    assert r.returncode == 0
    seen = [(m[2], int(m[3]), m[4]) for m in calls(r.stderr)]
    assert ("hvc", 0, "PSCI_VERSION") in seen
    assert ("smc", 0, "PSCI_VERSION") in seen
    assert ("hvc", 1, "PSCI_VERSION") in seen
    flagged = [ln for ln in r.stderr.splitlines() if "hvc#1" in ln]
    assert len(flagged) == 1 and "non-zero immediate" in flagged[0]
    assert not any("non-zero immediate" in ln for ln in r.stderr.splitlines() if "#0 " in ln)
    # The SMC32 and SMC64 forms of AFFINITY_INFO: one function, two widths (DEN0028 §2.5).
    assert [m[4] for m in calls(r.stderr) if "AFFINITY" in m[4]] == ["PSCI_AFFINITY_INFO",
                                                                     "PSCI_AFFINITY_INFO_64"]
    assert "SIP_0xc2001234" in r.stderr  # an unknown ID is named by its owner


def test_psci_tour_starts_and_stops_three_secondaries() -> None:
    r = run_hcdbg("trace", "psci-tour")  # bundled default: 4 vCPUs
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.splitlines()
    for n in (1, 2, 3):
        i = out.index(f"CPU_ON(0x{n}) -> 0x0000000000000000")
        # AFFINITY_INFO says ON as soon as CPU_ON returned (KVM, reference unicorn-aarch64.md),
        # then the secondary prints its own MPIDR and context id, then OFF.
        assert out[i + 1] == f"AFFINITY_INFO(0x{n}) -> 0x0000000000000000"
        assert out[i + 2] == f"cpu 0x{n} up, context 0x100{n}"
        assert out[i + 4] == f"AFFINITY_INFO(0x{n}) -> 0x0000000000000001"
    # MPIDR 4 does not exist: INVALID_PARAMETERS (-2), DEN0022 §5.1.4.
    assert "CPU_ON(0x4) -> 0xfffffffffffffffe" in out
    vcpus = {int(m[1]) for m in calls(r.stderr)}
    assert vcpus == {0, 1, 2, 3}  # each secondary made its own CPU_OFF call
    assert r.stderr.count("PSCI_CPU_ON_64(") == 4  # the guest uses the SMC64 ID 0xC4000003


def test_conditional_answer_denies_cpu_on_of_one_cpu() -> None:
    r = run_hcdbg("trace", "psci-tour", "--answer", "PSCI_CPU_ON x1=0x2 -> INTERNAL_FAILURE")
    assert r.returncode == 0, r.stderr[-2000:]
    # INTERNAL_FAILURE is -6 (DEN0022 §5.2.2); the guest prints what it got and stops touring.
    assert "CPU_ON(0x2) -> 0xfffffffffffffffa" in r.stdout.splitlines()
    assert "cpu 0x1 up, context 0x1001" in r.stdout
    assert "cpu 0x2 up" not in r.stdout
    assert "<rule 1>" in r.stderr


def test_nth_call_rule_injects_no_entropy() -> None:
    r = run_hcdbg("trace", "trng", "--answer", "TRNG_FEATURES #2 -> NO_ENTROPY")
    assert r.returncode == 0
    # NO_ENTROPY = -3 (DEN0098 §2.1), on the second TRNG_FEATURES call only.
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("TRNG_FEATURES")]
    assert lines[1].endswith("0xfffffffffffffffd")
    assert all(ln.endswith("0x0000000000000000") for ln in lines[:1] + lines[2:])


def test_forwarded_call_without_an_answer_stops_trace_naming_it() -> None:
    r = run_hcdbg("trace", "hello", "--forward", "PSCI_SYSTEM_OFF")
    assert r.returncode == 1
    assert "PSCI_SYSTEM_OFF" in r.stderr.splitlines()[-1]
    assert "no one to answer" in r.stderr


def test_denied_range_answers_not_supported() -> None:
    r = run_hcdbg("trace", "smccc-probe", "--deny", "PSCI_VERSION")
    assert r.returncode == 0
    assert "PSCI_VERSION -> 0xffffffffffffffff" in r.stdout
    assert "<deny>" in r.stderr


def test_trng_seed_replays_byte_for_byte() -> None:
    a = run_hcdbg("trace", "trng", "--seed", "42")
    b = run_hcdbg("trace", "trng", "--seed", "42")
    c = run_hcdbg("trace", "trng", "--seed", "43")
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout


def test_record_writes_one_json_line_per_call(tmp_path: Path) -> None:
    rec = tmp_path / "calls.jsonl"
    r = run_hcdbg("trace", "smccc-probe", "--record", str(rec))
    assert r.returncode == 0
    head, *lines = [json.loads(x) for x in rec.read_text().splitlines()]
    assert head["hcdbg"] == 1 and head["guest"]["name"] == "smccc-probe"
    assert len(lines) == len(calls(r.stderr)) == 12
    assert lines[0]["fid"] == "0x84000000" and lines[0]["answer"]["x0"] == "0x10001"
    assert lines[-1]["effect"] == "SystemOff"


# --- guests that misbehave: stop reasons, not tracebacks ---------------------------------

def _raw(tmp_path: Path, *words: int) -> Path:
    path = tmp_path / "raw.bin"
    path.write_bytes(b"".join(struct.pack("<I", w) for w in words))
    return path


def test_runaway_loop_stops_at_max_insns(tmp_path: Path) -> None:
    r = run_hcdbg("trace", str(_raw(tmp_path, 0x14000000)), "--load", "0x40080000",  # b .
                  "--max-insns", "1000000")
    assert r.returncode == 1
    assert "instruction limit reached" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("word, what", [
    (0xF9400020, "read from unmapped memory at 0x1000 (pc 0x40080004)"),  # ldr x0, [x1]
    (0xF9000020, "write to unmapped memory at 0x1000 (pc 0x40080004)"),  # str x0, [x1]
    (0xD63F0020, "instruction fetch from unmapped memory at 0x1000 (pc 0x1000)"),  # blr x1
])
def test_unmapped_access_without_vectors_is_a_fault(tmp_path: Path, word: int, what: str) -> None:
    # mov x1, #0x1000 ; WORD  (0x1000 is flash on virt, mapped only with --bios). No
    # VBAR_EL1: the abort the guest would take cannot be delivered, so the run stops.
    r = run_hcdbg("trace", str(_raw(tmp_path, 0xD2820001, word)), "--load", "0x40080000")
    assert r.returncode == 1
    assert f"+++ stopped: {what}" in r.stderr
    assert "Traceback" not in r.stderr


def test_svc_without_vectors_is_a_stop(tmp_path: Path) -> None:
    r = run_hcdbg("trace", str(_raw(tmp_path, 0xD4000001)), "--load", "0x40080000")  # svc #0
    assert r.returncode == 1
    assert "SVC at 0x40080000" in r.stderr and "no vector table" in r.stderr


def test_exceptions_reach_the_guest_vectors_like_the_architecture_says() -> None:
    r = run_hcdbg("trace", "exceptions")
    assert r.returncode == 0
    from hcdbg.machine.loader import load
    sym = load(GUESTS / "exceptions.elf").symbols.by_name
    # ESR = EC<<26 | IL | ISS (Arm ARM D17.2.37); SVC returns past itself, BRK/UDF to themselves.
    assert r.stdout.splitlines()[:10] == [
        f"SVC esr=0x56000042 elr={sym['do_svc'] + 4:#x}",
        f"BRK esr=0xf2000007 elr={sym['do_brk']:#x}",
        f"UDF esr=0x2000000 elr={sym['do_udf']:#x}",
        # Accesses to 0x9001000, where virt has nothing: a synchronous external abort
        # (FSC 0b010000) from the same EL, a data abort (EC 0x25, WnR for the store) or an
        # instruction abort (EC 0x21) with ELR = FAR = the fetched address (D17.2.37).
        f"LOAD esr=0x96000010 elr={sym['do_load']:#x} far=0x9001000",
        f"STORE esr=0x96000050 elr={sym['do_store']:#x} far=0x9001000",
        "FETCH esr=0x86000010 elr=0x9001000 far=0x9001000",
        # A load through the guest's own page tables from an unmapped address: data abort,
        # same EL (EC 0x25), IL, DFSC 0b000101 = translation fault at level 1 (D17.2.37).
        f"DABT esr=0x96000005 elr={sym['do_dabt']:#x} far=0x80000010",
        # The same hole through VA 0xc9001000 (MMU on): FAR is the virtual address.
        f"VA LOAD esr=0x96000010 elr={sym['do_va_load']:#x} far=0xc9001000",
        "VA FETCH esr=0x86000010 elr=0xc9001000 far=0xc9001000",
        # A branch to do_udf + 2: a PC alignment fault (EC 0x22, IL) at the target, before
        # anything there runs, ELR = FAR = the target, as QEMU 7.2 gives it (D1.3.5).
        f"PCALIGN esr=0x8a000000 elr={sym['do_udf'] + 2:#x} far={sym['do_udf'] + 2:#x}"]


def test_uart_input_reaches_the_guest() -> None:
    r = run_hcdbg("trace", "echo", "--input", r"hello there\n")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == "echo: hello there"
    # Without input the flag register says the receive FIFO is empty, and the guest stops waiting.
    assert run_hcdbg("trace", "echo").stdout.splitlines()[0] == "echo: no input"


def test_bad_uart_input_escape_is_a_usage_error() -> None:
    r = run_hcdbg("trace", "echo", "--input", "oops\\")
    assert r.returncode == 2 and "--input" in r.stderr and "Traceback" not in r.stderr


def test_system_reset_restarts_the_guest_with_fresh_ram() -> None:
    r = run_hcdbg("trace", "reset", "--max-insns", "300000")
    assert r.returncode == 1 and "instruction limit reached" in r.stderr
    boots = r.stdout.splitlines()
    # The boot counter lives in .data: a reset reloads the image, so it reads 1 every time.
    assert boots.count("boot 0x1") >= 3 and not any(b.startswith("boot 0x2") for b in boots)
    assert r.stderr.count("restarting the guest") >= 2


def test_catch_stops_on_a_guest_exception_instead_of_delivering_it() -> None:
    from hcdbg.machine.loader import load
    sym = load(GUESTS / "exceptions.elf").symbols.by_name
    r = run_hcdbg("trace", "exceptions", "--catch", "dabt")
    assert r.returncode == 1
    # The same syndrome the guest's own handler would have seen (Arm ARM D17.2.37): the
    # first data abort is the load from 0x9001000, where virt has nothing.
    assert f"data abort at {sym['do_load']:#x} (ESR 0x96000010, FAR 0x9001000): caught" in r.stderr
    assert r.stdout == ""  # stopped before the guest's vector ran
    r = run_hcdbg("trace", "exceptions", "--catch", "iabt")
    assert "prefetch abort at 0x9001000 (ESR 0x86000010, FAR 0x9001000): caught" in r.stderr
    r = run_hcdbg("trace", "exceptions", "--catch", "svc")
    assert f"SVC at {sym['do_svc']:#x} (ESR 0x56000042): caught" in r.stderr


def test_qemu_profile_on_the_smc_conduit_makes_hvc_undefined() -> None:
    # QEMU answers PSCI only on its configured conduit (reference §5.1): with --conduit smc
    # (virt's choice when the guest has EL2) HVC is UNDEFINED and SMC is answered.
    r = run_hcdbg("trace", "conduits", "--profile", "qemu", "--conduit", "smc", "--max-insns", "2000000")
    out = r.stdout.splitlines()
    assert out[:3] == ["PSCI_VERSION hvc#0 -> UNDEFINED",
                       "PSCI_VERSION smc#0 -> 0x0000000000010001",
                       "PSCI_VERSION hvc#1 -> UNDEFINED"]
    # The guest powers off through HVC, which is UNDEFINED here: it cannot, and spins.
    assert r.returncode == 1 and "instruction limit reached" in r.stderr


def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    # `hcdbg trace GUEST | head -1`: the pipe closes while the guest still prints.
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    err = tmp_path / "err.txt"
    r = subprocess.run(f"{sys.executable} -m hcdbg trace psci-tour 2>{err} | head -1",
                       shell=True, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.stdout == "PSCI_VERSION -> 0x0000000000010001\n"
    assert "internal error" not in err.read_text() and "Traceback" not in err.read_text()


def test_trace_keeps_no_call_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # trace prints each call as it comes; a history of every call grew without bound
    # (867 MB after ~1M calls). It still counts and numbers them.
    from hcdbg.cli import trace as trace_cli
    from hcdbg.cli.parse import parse

    sessions = []

    def build(opts, uart_sink=None):  # noqa: ANN001, ANN202 - wraps build_session
        session = build_session(opts, uart_sink)
        m = session.machine
        m.write_memory(m.image.symbols.lookup("bench_count"), struct.pack("<Q", 5000))
        sessions.append(session)
        return session

    from hcdbg.cli.launch import build_session
    monkeypatch.setattr(trace_cli, "build_session", build)
    out = tmp_path / "trace.txt"
    assert trace_cli.trace(parse(["trace", "bench-calls", "-o", str(out)])) == 0
    history = sessions[0].history
    assert len(history) == 5001 and list(history) == []  # 5000 PSCI_VERSION, SYSTEM_OFF
    assert out.read_text().count("PSCI_VERSION") == 5000
    assert "[vcpu0] hvc#0 PSCI_SYSTEM_OFF()" in out.read_text().splitlines()[-2]


def test_an_exception_loop_at_the_vector_stops_at_once(tmp_path: Path) -> None:
    # adr x0, .+0x800; msr vbar_el1, x0; isb; udf #0 -- and a vector table of zeros (UDF):
    # each entry takes the same exception again, for ever. It cost ~47 us an exception, so
    # --max-insns 100000000 took ~80 minutes to end it.
    guest = tmp_path / "loop.bin"
    guest.write_bytes(b"".join(struct.pack("<I", w) for w in (0x10004000, 0xD518C000, 0xD5033FDF, 0))
                      .ljust(0x1000, b"\0"))
    r = run_hcdbg("trace", str(guest), "--load", "0x40080000", "--max-insns", "100000000", timeout=60)
    assert r.returncode == 1
    assert ("+++ stopped: exception loop: undefined instruction at 0x40080a00, the vector's own "
            "first instruction (ESR 0x2000000): each entry takes the same exception again, "
            "for ever (vCPU 0, pc 0x40080a00)") in r.stderr
