"""The Session API on real guests: answering a forwarded call whose answer changes the machine."""
from __future__ import annotations

from conftest import guest
from hcdbg.machine import loader
from hcdbg.machine.machine import MachineConfig
from hcdbg.stop import StopKind
from hcdbg.policy.ranges import Action
from hcdbg.session.session import Session, is_call
from hcdbg.smccc.ids import PSCI_SYSTEM_RESET


def _reset_session(**cfg: object) -> Session:
    s = Session(loader.load(guest("reset")), MachineConfig(**cfg))  # type: ignore[arg-type]
    s.filter.add(PSCI_SYSTEM_RESET, 1, Action.FORWARD)
    return s


def test_handling_a_forwarded_system_reset_restarts_the_guest() -> None:
    s = _reset_session()
    stop = s.cont()
    assert stop.kind is StopKind.CALL and stop.trap is not None
    assert stop.trap.regs[0] == PSCI_SYSTEM_RESET
    s.handle()
    stop = s.cont()
    # DEN0022 §5.1.10: the system restarts; hcdbg reloads the image and vCPU 0 is at its entry.
    assert stop.kind is StopKind.RESET
    assert s.machine.vcpus[0].pc == s.machine.image.entry
    assert s.cont().kind is StopKind.CALL  # the second boot reaches the same call
    assert bytes(s.machine.uart.output).count(b"boot 0x1\n") == 2  # fresh RAM: counter is 1 again


def test_no_reboot_turns_a_handled_reset_into_the_end_of_the_run() -> None:
    s = _reset_session(no_reboot=True)
    s.cont()
    s.handle()
    stop = s.cont()
    assert stop.kind is StopKind.POWER_OFF and "no-reboot" in stop.reason
    assert not stop.resumable


def test_is_call_knows_the_branch_with_link_encodings() -> None:
    # Arm ARM C6.2: BL imm26, BLR Xn, BLRAA Xn, Xm, BLRABZ Xn; not B, BR or RET.
    assert is_call(0x9400_0010) and is_call(0xD63F_0020) and is_call(0xD73F_0841)
    assert is_call(0xD63F_0C3F)
    assert not is_call(0x1400_0010) and not is_call(0xD61F_0020) and not is_call(0xD65F_03C0)


def test_step_over_runs_a_called_function_to_its_return() -> None:
    s = Session(loader.load(guest("hello")), MachineConfig())
    machine = s.machine
    main = machine.image.symbols.lookup("main")
    machine.add_breakpoint(main)
    assert s.cont().kind is StopKind.BREAKPOINT
    machine.remove_breakpoint(main)
    s.step(0, 2)  # hello.S: main+8 is `bl puts`
    assert is_call(int.from_bytes(machine.read_memory(main + 8, 4), "little"))
    stop = s.step_over(0)
    assert stop.kind is StopKind.STEP and machine.vcpus[0].pc == main + 12
    assert b"Hello from hello" in bytes(machine.uart.output)  # puts ran inside the step
    assert not machine.breakpoints  # the temporary breakpoint is gone


def test_recent_calls_count_every_call_and_keep_the_last_ones() -> None:
    s = Session(loader.load(guest("psci-tour")))
    s.keep_recent_calls(3)
    s.cont()
    total = len(s.history)
    assert total > 3 and [r.seq for r in s.history] == [total - 2, total - 1, total]
    assert [r.seq for r in s.history[-2:]] == [total - 1, total]  # as the REPL's list reads
    assert s.history[0:2] == [] and [r.seq for r in s.history[total - 1:]] == [total]
