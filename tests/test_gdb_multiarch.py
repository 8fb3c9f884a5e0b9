"""Debian's gdb-multiarch against hcdbg's stub: source-level debugging of a bundled guest
(built with `as -g`), stops at forwarded calls, hcdbg commands through `monitor`, Ctrl-C,
and Debian's U-Boot. Expected lines come from the guest's source and gdb's own formats;
scripts/test installs gdb-multiarch when it is missing."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import GUESTS
from gdb_client import finish, start

GDB = shutil.which("gdb-multiarch")
pytestmark = pytest.mark.skipif(GDB is None, reason="gdb-multiarch not installed (scripts/test installs it)")
SOURCE = (GUESTS / "psci-tour.S").read_text().splitlines()


def _line_of(text: str) -> int:
    """The 1-based line of psci-tour.S that is `text` (stripped)."""
    return next(i for i, ln in enumerate(SOURCE, 1) if ln.strip() == text)


def _words(text: str) -> str:
    return " ".join(text.replace(",", ", ").split()).replace(",  ", ", ")


def gdb(port: int, elf: Path, *commands: str, cwd: Path, timeout: float = 300) -> str:
    """gdb-multiarch in batch mode: load `elf`, attach to the stub, run `commands`."""
    args = [GDB, "-batch", "-nx", "-ex", "set remotetimeout 120", "-ex", f"file {elf}",
            "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return proc.stdout + proc.stderr


def test_gdb_debugs_psci_tour_at_source_level_and_stops_at_its_hvc(tmp_path: Path) -> None:
    proc, port = start("trace", "--gdb", "0", "psci-tour")
    try:
        out = gdb(port, GUESTS / "psci-tour.elf",
                  f"directory {GUESTS}", "p $cpsr", "break main", "continue", "info threads", "bt",
                  "x/4i $pc", "list main", "monitor filter add PSCI_VERSION forward",
                  "continue", "bt", "p/x $x0", "monitor reply 0x10000", "continue",
                  cwd=tmp_path)  # not guests/: the source is found through `directory`
        status, stdout, stderr = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the arm64 boot protocol's entry state: EL1h (SP_EL1), D, A, I and F masked
    assert "$1 = [ SP EL=1 F I A D ]" in out, out
    main = _line_of("main:") + 1  # the first instruction after the label
    assert f"Breakpoint 1, main () at psci-tour.S:{main}" in out, out
    threads = re.findall(r"^\*?\s+(\d+)\s+Thread (\d+) \(vCPU (\d+)", out, re.M)
    assert threads == [(str(n), str(n), str(n - 1)) for n in (1, 2, 3, 4)], out
    assert f"#0  main () at psci-tour.S:{main}" in out
    insns = re.findall(r"^(?:=>)?\s+0x[0-9a-f]+ <main(\+\d+)?>:\s+(.*)$", out, re.M)
    assert [off for off, _ in insns[:4]] == ["", "+4", "+8", "+12"], out
    assert [_words(i) for _, i in insns[:4]] == [_words(SOURCE[main - 1 + k]) for k in range(4)]
    assert re.search(rf"^{main - 1}\s+main:$", out, re.M)  # `list main` shows the .S file
    hvc = _line_of('CALL_PRINT "PSCI_VERSION", 0x84000000')
    assert "received signal SIGTRAP" in out
    assert f"in main () at psci-tour.S:{hvc}" in out
    assert "forwarded call PSCI_VERSION on vCPU 0" in out
    assert "$2 = 0x84000000" in out  # x0 holds the function ID (DEN0022 PSCI_VERSION)
    assert "[Inferior 1 (Remote target) exited normally]" in out
    assert stdout.splitlines()[0] == "PSCI_VERSION -> 0x0000000000010000"  # the guest prints it
    assert status == 0 and "+++ guest powered off" in stderr


def test_gdb_unwinds_a_call_and_finishes_it(tmp_path: Path) -> None:
    proc, port = start("trace", "--gdb", "0", "psci-tour")
    try:
        out = gdb(port, GUESTS / "psci-tour.elf", f"directory {GUESTS}", "break report",
                  "continue", "bt", "finish", "detach", cwd=tmp_path)
        status, _, stderr = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    called = _line_of('CALL_PRINT "PSCI_VERSION", 0x84000000')  # its last instruction: bl report
    assert re.search(r"^#0  report \(\) at common\.S:\d+$", out, re.M), out
    assert re.search(rf"^#1  0x[0-9a-f]+ in main \(\) at psci-tour\.S:{called}$", out, re.M), out
    back = _line_of("adr     x19, psci_fids")  # the instruction after the call
    assert re.search(rf"^main \(\) at psci-tour\.S:{back}$", out, re.M), out
    assert status == 0 and "gdb detached: the guest runs on" in stderr


def test_ctrl_c_in_gdb_stops_the_guest(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    proc, port = start("trace", "--gdb", "0", "hello")
    try:
        child = pexpect.spawn(GDB, ["-nx", "-q", "-ex", "set pagination off", "-ex",
                                    "set style enabled off", "-ex",
                                    "set remotetimeout 120", "-ex", f"file {GUESTS / 'hello.elf'}",
                                    "-ex", f"target remote 127.0.0.1:{port}"],
                              cwd=str(tmp_path), timeout=120, encoding="utf-8")
        child.expect_exact("(gdb) ")
        # main becomes `b .` (A64 B with offset 0): the guest spins until stopped
        child.sendline("set var *(unsigned int *) main = 0x14000000")
        child.expect_exact("(gdb) ")
        for line in ("break main", "continue", "delete 1"):  # at main whenever the Ctrl-C lands
            child.sendline(line)
            child.expect_exact("(gdb) ")
        child.sendline("continue")
        child.expect_exact("Continuing.")
        child.sendcontrol("c")
        child.expect("received signal SIGINT")
        hello = (GUESTS / "hello.S").read_text().splitlines()
        spin = hello.index("main:") + 2  # the line of main's first instruction, now `b .`
        child.expect_exact(f"main () at hello.S:{spin}")  # where it spins
        child.expect_exact("(gdb) ")
        child.sendline("kill")
        child.expect(r"Kill the program being debugged\? \(y or n\)")
        child.sendline("y")
        child.expect_exact("(gdb) ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
        status, _, stderr = finish(proc)
        assert "killed by gdb" in stderr and status == 1
    finally:
        if proc.poll() is None:
            proc.kill()


# --- Debian's U-Boot ------------------------------------------------------------------------
def _uboot() -> Path:
    out = subprocess.run([str(GUESTS.parent / "scripts/fetch-guests"), "--print"],
                         capture_output=True, text=True, check=True).stdout
    paths = dict(ln.split("=", 1) for ln in out.splitlines())
    return Path(paths["uboot"]).with_name("uboot.elf")


UBOOT_ELF = _uboot()


@pytest.mark.skipif(not UBOOT_ELF.exists(), reason=f"no {UBOOT_ELF} (scripts/fetch-guests fetches it)")
def test_gdb_stops_uboot_at_its_psci_system_off(tmp_path: Path) -> None:
    # Debian's uboot.elf is stripped (no .symtab): there is no do_poweroff to break on, so
    # gdb stops on the PSCI SYSTEM_OFF path instead, as a forwarded call.
    proc, port = start("trace", "--gdb", "0", str(UBOOT_ELF), "--uart-input", r"\npoweroff\n",
                       "--max-insns", "5000000000")
    try:
        out = gdb(port, UBOOT_ELF, "monitor filter add PSCI_SYSTEM_OFF forward", "continue",
                  "p/x $x0", "x/i $pc - 4", "bt 1", "info threads", "monitor handle", "continue",
                  cwd=tmp_path)
        status, stdout, stderr = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "=> poweroff" in stdout  # typed at U-Boot's prompt, before the call
    assert "received signal SIGTRAP" in out, out
    assert "$1 = 0x84000008" in out  # PSCI_SYSTEM_OFF (DEN0022 §5.1.9)
    assert re.search(r"^   0x[0-9a-f]+:\s+hvc\s+#0x0$", out, re.M), out
    assert re.search(r"^#0  0x[0-9a-f]+ in \?\? \(\)$", out, re.M)
    assert "[Inferior 1 (Remote target) exited normally]" in out
    assert status == 0 and "PSCI_SYSTEM_OFF" in stderr


def test_memory_is_read_through_the_vcpus_stage_1_tables(tmp_path: Path) -> None:
    # tlb-shootdown maps VA 0x8000_0000 to PA 0x4040_0000 (holding 0xa), then remaps it to
    # PA 0x4060_0000 (holding 0xb); its main reads through the VA right after each mapping.
    source = (GUESTS / "tlb-shootdown.S").read_text().splitlines()
    reads = [i for i, ln in enumerate(source, 1) if ln.strip() == "ldr     x0, [x11]"]
    assert len(reads) >= 2
    proc, port = start("trace", "--gdb", "0", "tlb-shootdown")
    try:
        out = gdb(port, GUESTS / "tlb-shootdown.elf", f"break tlb-shootdown.S:{reads[0]}",
                  f"break tlb-shootdown.S:{reads[1]}", "continue", "x/gx 0x80000000",
                  "continue", "x/gx 0x80000000", "x/gx 0x40400000", "delete", "continue",
                  cwd=tmp_path)
        status, stdout, _ = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    values = re.findall(r"^(0x[0-9a-f]+):\s+(0x[0-9a-f]+)$", out, re.M)
    assert values == [("0x80000000", "0x000000000000000a"), ("0x80000000", "0x000000000000000b"),
                      ("0x40400000", "0x000000000000000a")], out
    assert "tlb-shootdown PASS" in stdout and status == 0
