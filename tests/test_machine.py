"""The virt-like board as a guest sees it: device tree, boot registers, Ctrl-C."""
from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import libfdt
import pytest
from unicorn import arm64_const as A

from conftest import ROOT, guest
from hcdbg.machine import loader
from hcdbg.machine.board import RAM_BASE
from hcdbg.machine.machine import Machine, MachineConfig
from hcdbg.stop import StopKind
from hcdbg.session.session import Session


def _machine(name: str, **kw) -> Machine:
    return Machine(loader.load(guest(name)), MachineConfig(**kw))


def test_boot_registers_and_device_tree_match_qemu_virt() -> None:
    m = _machine("hello", smp=3, ram_size=256 << 20, conduit="smc")
    v0 = m.vcpus[0]
    assert v0.read("x0") == m.dtb_address  # arm64 booting.rst: x0 = DTB physical address
    assert v0.pc == 0x40080000 and v0.el == 1  # QEMU -kernel: EL1h, MMU off
    assert v0.read("sctlr_el1") & 1 == 0
    fdt = libfdt.Fdt(m.read_memory(m.dtb_address, 0x10000))
    psci = fdt.path_offset("/psci")
    assert fdt.getprop(psci, "method").as_str() == "smc"
    assert b"arm,psci-1.0\0arm,psci-0.2\0" in bytes(fdt.getprop(psci, "compatible"))
    mem = fdt.getprop(fdt.path_offset("/memory@40000000"), "reg")
    assert struct.unpack(">QQ", bytes(mem)) == (RAM_BASE, 256 << 20)
    cpus = [fdt.getprop(fdt.path_offset(f"/cpus/cpu@{i}"), "reg").as_int32() for i in range(3)]
    assert cpus == [0, 1, 2]
    assert fdt.getprop(fdt.path_offset("/chosen"), "stdout-path").as_str() == "/pl011@9000000"


def test_secondaries_start_off_and_read_their_own_mpidr() -> None:
    m = _machine("hello", smp=4)
    assert [v.state.name for v in m.vcpus] == ["ON", "OFF", "OFF", "OFF"]
    # A non-secure EL1 guest reads MPIDR_EL1 from VMPIDR_EL2 (RES1 bit 31 set).
    assert [v.read("mpidr_el1") for v in m.vcpus] == [0x8000_0000 | i for i in range(4)]


def test_reset_restores_ram_and_keeps_breakpoints() -> None:
    m = _machine("hello")
    m.write_memory(0x40080000, b"\0\0\0\0")
    m.add_breakpoint(0x40080000)
    m.reset()
    assert m.read_memory(0x40080000, 4) != b"\0\0\0\0"
    assert m.run().kind is StopKind.BREAKPOINT


def test_ctrl_c_interrupts_a_looping_guest(tmp_path: Path) -> None:
    raw = tmp_path / "loop.bin"
    raw.write_bytes(struct.pack("<I", 0x14000000))  # b .
    proc = subprocess.Popen([sys.executable, "-m", "hcdbg", "trace", str(raw), "--load", "0x40080000"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    time.sleep(2.0)  # well into the loop
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()  # never leave a guest spinning a core behind the rest of the suite
        raise
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err


def _wait_for_unicorn(proc: subprocess.Popen[str]) -> None:
    """Until the child has loaded Unicorn's library: its own start-up, past Python's."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if "libunicorn" in Path(f"/proc/{proc.pid}/maps").read_text():
            return
        time.sleep(0.002)
    pytest.fail("hcdbg never loaded Unicorn")


@pytest.mark.parametrize("delay", [0, 0.02, 0.05, 0.1, 0.2, 0.4])
def test_ctrl_c_during_start_up_is_never_lost(tmp_path: Path, delay: float) -> None:
    # Start-up runs Unicorn hooks on the main thread (engine probes), where a KeyboardInterrupt
    # is swallowed; wherever the Ctrl-C lands after Python's own start-up, hcdbg ends with 130
    # and says so (a CI run once waited 10 s on a guest that had kept running after it).
    raw = tmp_path / "loop.bin"
    raw.write_bytes(struct.pack("<I", 0x14000000))  # b .
    proc = subprocess.Popen([sys.executable, "-m", "hcdbg", "trace", str(raw), "--load", "0x40080000"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    _wait_for_unicorn(proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"Ctrl-C {delay} s after start was lost: the guest ran on")
    assert proc.returncode in (130, -signal.SIGINT), err  # exit 130, or the signal itself at exit
    assert "interrupted" in err and "Traceback" not in err


def test_clock_snapshot_for_kvm_ptp_reads_the_guest_counter() -> None:
    m = _machine("hello")
    w0, c0 = m.clock_snapshot(0, physical=False)
    time.sleep(0.05)
    w1, c1 = m.clock_snapshot(0, physical=True)
    # The counter runs at CNTFRQ = 62.5 MHz (reference unicorn-aarch64.md), in step with the wall.
    assert m.vcpus[0].uc.reg_read(A.UC_ARM64_REG_CP_REG, (14, 0, 3, 3, 0)) == 62_500_000  # CNTFRQ
    elapsed = (w1 - w0) / 1e9
    assert abs((c1 - c0) / 62.5e6 - elapsed) < 0.02


def _compute(smp: int, timeslice: float, count: int) -> tuple[str, int]:
    """bench-compute over `smp` vCPUs with `count` iterations: (UART output, vCPU switches)."""
    out: list[bytes] = []
    session = Session(loader.load(guest("bench-compute")), MachineConfig(smp=smp, timeslice=timeslice),
                      uart_sink=out.append)
    m = session.machine
    m.write_memory(m.image.symbols.lookup("bench_count"), struct.pack("<Q", count))
    slices = 0
    real = m._slice

    def counting(vcpu, n, **how):  # noqa: ANN001 - wraps the scheduler's own method
        nonlocal slices
        slices += 1
        return real(vcpu, n, **how)

    m._slice = counting  # type: ignore[method-assign]
    assert session.cont().kind is StopKind.POWER_OFF
    return b"".join(out).decode(), slices


def test_time_slices_preempt_spinning_vcpus_and_keep_the_result() -> None:
    # The boot CPU waits for the others in a loop (WFE is a no-op here): only the timer
    # thread ends its slice, so without preemption this run never finishes.
    one, _ = _compute(1, 0.01, 3_000_000)
    four, slices = _compute(4, 0.005, 3_000_000)
    assert four.replace("cpus 0x4", "cpus 0x1") == one  # same checksum on 4 vCPUs as on 1
    assert slices > 4  # the vCPUs took turns more than once each
    counted, _ = _compute(4, 0, 3_000_000)
    assert counted == four


def test_a_store_to_nothing_stops_at_the_store_with_the_registers_before_it() -> None:
    # Unicorn ends a run at a faulting store only at the end of the translated block when
    # its per-access stop check is off (machine/exactstop.py): the add after the store has
    # run by then. The machine puts back the CPU state saved at the store (no vectors here,
    # so the abort is a fault stop showing the access).
    m = _machine("hello")
    code = struct.pack("<5I",
                       0xD2A12001,   # mov  x1, #0x9000000
                       0xF2820001,   # movk x1, #0x1000      -> 0x0900_1000: nothing there
                       0xF9000020,   # str  x0, [x1]
                       0x91000442,   # add  x2, x2, #1
                       0x14000000)   # b    .
    m.write_memory(0x40080000, code)
    v = m.vcpus[0]
    v.write("x2", 41)
    stop = m.run()
    assert stop.kind is StopKind.FAULT and "write to unmapped memory at 0x9001000" in stop.reason
    assert stop.pc == 0x40080008 and v.pc == 0x40080008
    assert v.read("x2") == 41
