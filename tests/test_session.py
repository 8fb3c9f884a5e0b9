"""The Session API on real guests: answering a forwarded call whose answer changes the machine."""
from __future__ import annotations

from conftest import guest
from hcdbg.machine import loader
from hcdbg.machine.machine import MachineConfig, StopKind
from hcdbg.policy.filter import Action
from hcdbg.session.session import Session
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
