"""The bundled guests under real QEMU (the oracle hcdbg mirrors), and their rebuild.

Each guest runs through scripts/run-qemu (QEMU 7.2-era `virt`, TCG, no EL2/EL3,
PSCI over HVC) and its UART transcript is compared with what the specs and QEMU's
documented behaviour say: reference smccc.md section 5.2 (QEMU's answers) and
section 6 (golden pairs). Skipped when qemu-system-aarch64 is not installed.

The rebuild test checks that scripts/build-guests reproduces the committed ELFs (and the
raw guests/raw/*.bin) byte for byte (skipped without the aarch64 binutils; it never installs them).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_cpu_suspend import cpu_suspend_transcript
from test_gic_guests import gic_ipi_transcript, timer_transcript

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "guests"
RUN_QEMU = ROOT / "scripts" / "run-qemu"
BUILD_GUESTS = ROOT / "scripts" / "build-guests"

INDEX = json.loads((GUESTS / "guests.json").read_text())
NAMES = [g["name"] for g in INDEX]
SMP = {g["name"]: g["smp"] for g in INDEX}

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None,
                                reason="qemu-system-aarch64 not installed")

# --- values (reference 1.5, 2.2, 2.4) -------------------------------------------------
NOT_SUPPORTED = "0xffffffffffffffff"        # -1, sign-extended (DEN0028B+)
INVALID_PARAMETERS = "0xfffffffffffffffe"   # PSCI -2
ZERO = "0x0000000000000000"                 # SUCCESS / AFFINITY_INFO ON
OFF = "0x0000000000000001"                  # AFFINITY_INFO OFF
PSCI_1_1 = "0x0000000000010001"             # QEMU's PSCI_VERSION (reference 5.2)

# Every PSCI 0.2..1.3 function ID, SMC32 then SMC64 form (reference 2.1), then
# SMCCC_VERSION: the order psci-tour asks PSCI_FEATURES about them.
PSCI_FEATURE_IDS = [
    0x84000000, 0x84000001, 0xC4000001, 0x84000002, 0x84000003, 0xC4000003,
    0x84000004, 0xC4000004, 0x84000005, 0xC4000005, 0x84000006, 0x84000007,
    0xC4000007, 0x84000008, 0x84000009, 0x8400000A, 0x8400000B, 0x8400000C,
    0xC400000C, 0x8400000D, 0xC400000D, 0x8400000E, 0xC400000E, 0x8400000F,
    0x84000010, 0xC4000010, 0x84000011, 0xC4000011, 0x84000012, 0xC4000012,
    0x84000013, 0x84000014, 0xC4000014, 0x84000015, 0xC4000015, 0xC4000016,
    0x84000017, 0x80000000,
]
# Reference 5.2: QEMU's PSCI_FEATURES says 0 for exactly these (AArch64 caller);
# everything else, MIGRATE and SMCCC_VERSION included, is -1.
QEMU_PSCI_FEATURES_0 = {
    0x84000000,               # PSCI_VERSION
    0x84000001, 0xC4000001,   # CPU_SUSPEND
    0x84000002,               # CPU_OFF
    0x84000003, 0xC4000003,   # CPU_ON
    0x84000004, 0xC4000004,   # AFFINITY_INFO
    0x84000006,               # MIGRATE_INFO_TYPE
    0x84000008,               # SYSTEM_OFF
    0x84000009,               # SYSTEM_RESET
    0x8400000A,               # PSCI_FEATURES
}

# The line grammar every guest follows (guests/common.S header).
_HEX16 = r"0x[0-9a-f]{16}"
LINE = re.compile(
    r"(?:[A-Z][A-Z0-9_]*(?: (?:hvc|smc)#\d+)?(?:\(0x[0-9a-f]+\))?"
    rf" -> (?:UNDEFINED|{_HEX16}(?: {_HEX16} {_HEX16} {_HEX16})?)"
    r"|cpu 0x[0-9a-f]+ up, context 0x[0-9a-f]+"
    rf"|RACE cpu 0x[0-9a-f]+ CPU_ON\(0x[0-9a-f]+\) -> {_HEX16}|RACE successes=\d already_on=\d"
    r"|CPU_OFF|SYSTEM_OFF|Hello from hello)")


def run_qemu(name: str, smp: int | None = None) -> list[str]:
    """Run guests/<name>.elf under QEMU; assert a clean SYSTEM_OFF exit; the UART lines."""
    elf = GUESTS / f"{name}.elf"
    assert elf.exists(), f"{elf} missing: run scripts/build-guests"
    proc = subprocess.run([str(RUN_QEMU), str(elf), str(smp or SMP[name])],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, (
        f"run-qemu {name}: exit {proc.returncode} (124 = timed out)\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout.splitlines()


def tour_cpus(smp: int) -> list[str]:
    """psci-tour's CPU part on `smp` vCPUs: mpidr 1..smp-1 come up and go off."""
    lines = []
    for mpidr in range(1, smp):
        lines += [
            f"CPU_ON(0x{mpidr:x}) -> {ZERO}",
            f"AFFINITY_INFO(0x{mpidr:x}) -> {ZERO}",          # ON
            f"cpu 0x{mpidr:x} up, context 0x{0x1000 + mpidr:x}",
            "CPU_OFF",
            f"AFFINITY_INFO(0x{mpidr:x}) -> {OFF}",
        ]
    # virt numbers CPUs 0..smp-1 at Aff0, so the next one does not exist.
    lines.append(f"CPU_ON(0x{smp:x}) -> {INVALID_PARAMETERS}")
    return lines


def expected(name: str, smp: int, seen: list[str] | None = None) -> list[str]:
    """The full transcript QEMU must print for a guest (`seen`: what it printed, for cpu-race)."""
    if name == "hello":
        lines = ["Hello from hello"]
    elif name == "smccc-probe":
        # QEMU implements no SMCCC architecture call: every one is an unknown
        # ID -> -1 (reference 5.2 "unknown IDs (incl. SMCCC_VERSION)"; 6 #2, #3).
        lines = [f"PSCI_VERSION -> {PSCI_1_1}",
                 f"PSCI_FEATURES(0x80000000) -> {NOT_SUPPORTED}",
                 f"SMCCC_VERSION -> {NOT_SUPPORTED}"]
        lines += [f"SMCCC_ARCH_FEATURES(0x{fid:x}) -> {NOT_SUPPORTED}"
                  for fid in (0x80000000, 0x80000001, 0x80000002,
                              0x80008000, 0x80007FFF, 0x80003FFF)]
        lines += [f"SMCCC_ARCH_SOC_ID(0x{arg:x}) -> {NOT_SUPPORTED}" for arg in (0, 1)]
    elif name == "psci-tour":
        lines = [f"PSCI_VERSION -> {PSCI_1_1}"]
        lines += [f"PSCI_FEATURES(0x{fid:x}) -> "
                  f"{ZERO if fid in QEMU_PSCI_FEATURES_0 else NOT_SUPPORTED}"
                  for fid in PSCI_FEATURE_IDS]
        lines.append("MIGRATE_INFO_TYPE -> 0x0000000000000002")       # reference 2.5, 5.2
        lines += tour_cpus(smp)
    elif name == "cpu-race":
        lines = [f"CPU_ON(0x1) -> {ZERO}", f"CPU_ON(0x2) -> {ZERO}"]
        lines += race_lines(seen or [])
    elif name == "trng":
        # No TRNG in QEMU: -1 everywhere. QEMU writes only x0 and leaves x1..x3
        # as the caller set them (reference 5.2), so RND64's x1 still holds N=64.
        lines = [f"TRNG_VERSION -> {NOT_SUPPORTED}"]
        lines += [f"TRNG_FEATURES(0x{fid:x}) -> {NOT_SUPPORTED}"
                  for fid in (0x84000050, 0x84000051, 0x84000052, 0x84000053, 0xC4000053)]
        lines += [f"TRNG_GET_UUID -> {NOT_SUPPORTED} {ZERO} {ZERO} {ZERO}",
                  f"TRNG_RND64(0x40) -> {NOT_SUPPORTED} 0x0000000000000040 {ZERO} {ZERO}",
                  f"TRNG_RND64(0xc1) -> {NOT_SUPPORTED}"]
    elif name == "conduits":
        lines = [f"PSCI_VERSION hvc#0 -> {PSCI_1_1}",
                 # No EL3 on virt without firmware: SMC at EL1 is UNDEFINED (5.1).
                 "PSCI_VERSION smc#0 -> UNDEFINED",
                 # QEMU checks only the exception type, not the immediate (5.1).
                 f"PSCI_VERSION hvc#1 -> {PSCI_1_1}",
                 f"AFFINITY_INFO32(0x0) -> {ZERO}",                   # 6 #6: boot CPU ON
                 f"AFFINITY_INFO64(0x0) -> {ZERO}",
                 f"UNKNOWN(0xc2001234) -> {NOT_SUPPORTED}",          # 6 #17
                 f"UNKNOWN(0xc6001234) -> {NOT_SUPPORTED}",
                 f"VENDOR_HYP_CALL_UID -> {NOT_SUPPORTED} {ZERO} {ZERO} {ZERO}"]
    elif name == "exceptions":
        # ESR = EC<<26 | IL | ISS (Arm ARM D17.2.37); ELR: SVC's preferred return is the
        # next instruction, BRK's and UDF's the instruction itself (D1.10.1).
        sym = _symbols("exceptions")
        return [f"SVC esr=0x56000042 elr={sym['do_svc'] + 4:#x}",
                f"BRK esr=0xf2000007 elr={sym['do_brk']:#x}",
                f"UDF esr=0x2000000 elr={sym['do_udf']:#x}",
                # 0x9001000 is a hole in virt's map: a synchronous external abort (FSC
                # 0b010000) from the same EL; data abort EC 0x25 (WnR for the store),
                # instruction abort EC 0x21 with ELR = FAR = the target (D17.2.37)
                f"LOAD esr=0x96000010 elr={sym['do_load']:#x} far=0x9001000",
                f"STORE esr=0x96000050 elr={sym['do_store']:#x} far=0x9001000",
                "FETCH esr=0x86000010 elr=0x9001000 far=0x9001000",
                # data abort, same EL, translation fault level 1 (Arm ARM D17.2.37)
                f"DABT esr=0x96000005 elr={sym['do_dabt']:#x} far=0x80000010",
                # the hole again through VA 0xc9001000 (MMU on): FAR is virtual
                f"VA LOAD esr=0x96000010 elr={sym['do_va_load']:#x} far=0xc9001000",
                "VA FETCH esr=0x86000010 elr=0xc9001000 far=0xc9001000",
                # a branch to a misaligned address: PC alignment fault, EC 0x22, FAR = ELR
                f"PCALIGN esr=0x8a000000 elr={sym['do_udf'] + 2:#x} far={sym['do_udf'] + 2:#x}",
                "SYSTEM_OFF"]
    elif name == "reset":
        # scripts/run-qemu passes -no-reboot: the first SYSTEM_RESET ends QEMU.
        return ["boot 0x1", "SYSTEM_RESET"]
    elif name == "echo":
        # scripts/run-qemu gives QEMU no console input: UARTFR.RXFE stays set.
        return ["echo: no input", "SYSTEM_OFF"]
    elif name == "bench-calls":
        # BENCH_CALLS PSCI_VERSION answers of 0x10001 (PSCI 1.1, reference §5.2) summed.
        return [f"sum of answers {BENCH_CALLS * 0x10001:#x}", "SYSTEM_OFF"]
    elif name == "bench-compute":
        return [f"cpus {smp:#x} checksum {bench_checksum(BENCH_STEPS):#x}", "SYSTEM_OFF"]
    elif name == "code-patch":
        # Both CPUs run the old instruction (movz x0, #1) before the patch, the new one after.
        lines = [f"cpu {i:#x} before 0x1 after 0x2" for i in range(2)] + ["code-patch PASS"]
    elif name == "tlb-shootdown":
        # Both CPUs read the first page's mark (0xa) before the remap, the second's (0xb) after.
        lines = [f"cpu {i:#x} before 0xa after 0xb" for i in range(2)] + ["tlb-shootdown PASS"]
    elif name == "gic-ipi":
        # The GIC and timer guests' transcripts, derived in tests/test_gic_guests.py.
        return gic_ipi_transcript(smp)
    elif name == "timer":
        return timer_transcript()
    elif name == "cpu-suspend":
        # QEMU 7.2's PSCI runs every CPU_SUSPEND as WFI and returns SUCCESS in place, a
        # power-down request included (DEN0022D.b §5.4 allows a shallower state).
        return cpu_suspend_transcript(resumed=False)
    elif name == "smp-check":
        # Each CPU's pointer chases and the shared LDXR/STXR counter come out right.
        lines = [f"cpu {i:#x} PASS" for i in range(smp)] + ["counter PASS", "smp-check PASS"]
    else:
        raise AssertionError(f"no expected transcript for guest {name!r}")
    return lines + ["SYSTEM_OFF"]


# The committed counts of the benchmark guests (the `.quad` at bench_count in each source;
# scripts/bench patches larger ones in).
BENCH_CALLS = 1000
BENCH_STEPS = 100_000


def bench_checksum(steps: int) -> int:
    """bench-compute's checksum as its header defines it: the sum, modulo 2^64, of
    mix(k) for k in [0, steps), mix being two multiply/xor-shift rounds."""
    mask = (1 << 64) - 1
    total = 0
    for k in range(steps):
        x = k * 0x9E3779B97F4A7C15 & mask
        x ^= x >> 29
        x = x * 0xBF58476D1CE4E5B9 & mask
        x ^= x >> 32
        total += x
    return total & mask


# QEMU 7.2's TCG CPU_ON is not the oracle for the race (reference unicorn-aarch64.md, "PSCI
# details that real guests check"): it only queues the power-on, so several racers can get
# SUCCESS. Any PSCI answer a racer may legally see is accepted; tests/test_cpu_race.py holds
# hcdbg to KVM's rule (one SUCCESS, the rest ALREADY_ON).
RACE_ANSWERS = {ZERO: "SUCCESS", "0xfffffffffffffffc": "ALREADY_ON",
                "0xfffffffffffffffb": "ON_PENDING"}


def race_lines(seen: list[str]) -> list[str]:
    """cpu-race's RACE lines: racers 0..2 in order, each answer whatever QEMU said if it is in
    RACE_ANSWERS (else a placeholder that cannot match), then the summary those answers give."""
    answers = {}
    for line in seen:
        head, _, value = line.rpartition(" -> ")
        if head.startswith("RACE cpu ") and value in RACE_ANSWERS:
            answers[head] = value
    lines, names = [], []
    for racer in range(3):
        head = f"RACE cpu 0x{racer:x} CPU_ON(0x3)"
        value = answers.get(head, "<SUCCESS, ALREADY_ON or ON_PENDING>")
        lines.append(f"{head} -> {value}")
        names.append(RACE_ANSWERS.get(value))
    lines.append(f"RACE successes={names.count('SUCCESS')} already_on={names.count('ALREADY_ON')}")
    return lines


def _symbols(name: str) -> dict[str, int]:
    from hcdbg.machine.loader import load
    return load(GUESTS / f"{name}.elf").symbols.by_name


# --- guests.json ---------------------------------------------------------------------

def test_index_lists_every_guest_source_and_elf():
    sources = sorted(p.stem for p in GUESTS.glob("*.S") if p.name != "common.S")
    assert sorted(NAMES) == sources
    for entry in INDEX:
        assert set(entry) == {"name", "description", "smp"}
        assert entry["description"] and "\n" not in entry["description"]
        assert (GUESTS / f"{entry['name']}.elf").is_file()
    # psci-tour, cpu-race, smp-check, gic-ipi, code-patch, tlb-shootdown and cpu-suspend need
    # secondaries; every other guest runs on one vCPU.
    assert {n: s for n, s in SMP.items() if s != 1} == {"psci-tour": 4, "cpu-race": 4, "smp-check": 4,
                                                     "gic-ipi": 4, "code-patch": 2,
                                                     "tlb-shootdown": 2, "cpu-suspend": 2}


# --- QEMU transcripts ----------------------------------------------------------------

@needs_qemu
@pytest.mark.parametrize("name", NAMES)
def test_guest_transcript_under_qemu(name):
    lines = run_qemu(name)
    # exceptions and the bench guests print their own records, not call lines.
    bad = [line for line in lines if not LINE.fullmatch(line)
           and name not in ("exceptions", "bench-calls", "bench-compute", "echo", "reset", "smp-check", "code-patch",
                                "tlb-shootdown", "gic-ipi", "timer", "cpu-suspend")]
    assert not bad, f"lines outside the guest line format: {bad}"
    assert lines == expected(name, SMP[name], lines)


@needs_qemu
@pytest.mark.parametrize("smp", [1, 2])
def test_psci_tour_follows_the_cpu_count(smp):
    lines = run_qemu("psci-tour", smp)
    assert lines == expected("psci-tour", smp)


@needs_qemu
def test_bench_compute_splits_the_work_over_four_cpus():
    # Each CPU adds its quarter: the checksum is the one-CPU checksum.
    assert run_qemu("bench-compute", 4) == expected("bench-compute", 4)


@needs_qemu
def test_psci_tour_is_deterministic_on_four_cpus():
    # QEMU TCG runs each vCPU in its own host thread: the guest's hand-over
    # flags must make the UART output identical on every run.
    first = run_qemu("psci-tour", 4)
    for _ in range(4):
        assert run_qemu("psci-tour", 4) == first


@needs_qemu
def test_psci_tour_cpu_part_on_four_cpus():
    # The SPEC's headline facts, stated directly.
    lines = run_qemu("psci-tour", 4)
    assert lines[0] == f"PSCI_VERSION -> {PSCI_1_1}"
    assert [line for line in lines if line.startswith("CPU_ON(")] == [
        f"CPU_ON(0x1) -> {ZERO}", f"CPU_ON(0x2) -> {ZERO}", f"CPU_ON(0x3) -> {ZERO}",
        f"CPU_ON(0x4) -> {INVALID_PARAMETERS}"]
    for mpidr in (1, 2, 3):
        i = lines.index(f"cpu 0x{mpidr} up, context 0x100{mpidr}")
        assert lines[i - 1] == f"AFFINITY_INFO(0x{mpidr}) -> {ZERO}"
        assert lines[i + 1] == "CPU_OFF"
        assert lines[i + 2] == f"AFFINITY_INFO(0x{mpidr}) -> {OFF}"
    assert lines[-1] == "SYSTEM_OFF"


# --- reproducible build --------------------------------------------------------------

@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-as") is None
                    or shutil.which("aarch64-linux-gnu-ld") is None,
                    reason="aarch64 binutils not installed")
def test_build_guests_reproduces_the_committed_elfs(tmp_path):
    proc = subprocess.run([str(BUILD_GUESTS), "-o", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    built = sorted(p.stem for p in tmp_path.glob("*.elf"))
    assert built == sorted(NAMES)
    differ = [name for name in NAMES
              if (tmp_path / f"{name}.elf").read_bytes() != (GUESTS / f"{name}.elf").read_bytes()]
    raw = sorted(p.name for p in (GUESTS / "raw").glob("*.bin"))
    assert raw == sorted(p.name for p in (tmp_path / "raw").glob("*.bin")) == ["boot-info.bin"]
    differ += [f"raw/{name}" for name in raw
               if (tmp_path / "raw" / name).read_bytes() != (GUESTS / "raw" / name).read_bytes()]
    assert not differ, (f"rebuilt guests differ from the committed ones: {differ} "
                        "(commit the output of scripts/build-guests)")
