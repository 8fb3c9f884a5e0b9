"""The session's numbered breakpoints on real guests, without the REPL: numbering, hit counts
kept by the session as stops are returned, temporary breakpoints, the machine's exits, and
what `run` and `back` keep; and the session's one message for "not at a call"."""
from __future__ import annotations

import pytest

from conftest import guest
from hcdbg.errors import NotAtCall, UsageError
from hcdbg.machine import loader
from hcdbg.machine.machine import MachineConfig
from hcdbg.stop import StopKind
from hcdbg.policy.ranges import Action
from hcdbg.session.checkpoint_stack import Rewind
from hcdbg.session.session import NoAnswer, Session
from hcdbg.smccc.ids import PSCI_SYSTEM_OFF


def hello() -> tuple[Session, int, int]:
    """A session of hello.S, and the addresses of main and puts (main+8 is `bl puts`)."""
    s = Session(loader.load(guest("hello")), MachineConfig())
    symbols = s.machine.image.symbols
    return s, symbols.lookup("main"), symbols.lookup("puts")


def test_breakpoints_are_numbered_from_one_and_numbers_are_never_reused() -> None:
    s, main, puts = hello()
    first = s.breakpoints.add(main, location="main")
    second = s.breakpoints.add(puts, temporary=True)
    assert (first.number, first.address, first.location, first.temporary) == (1, main, "main", False)
    assert (second.number, second.temporary, second.hits) == (2, True, 0)
    assert s.breakpoints.delete(2) is second
    assert s.breakpoints.add(puts).number == 3
    assert [b.number for b in s.breakpoints] == [1, 3] and len(s.breakpoints) == 2
    assert 1 in s.breakpoints and 2 not in s.breakpoints
    assert s.machine.breakpoints == {main, puts}


def test_a_refused_address_changes_nothing() -> None:
    s, main, _ = hello()
    with pytest.raises(UsageError, match="aligned"):
        s.breakpoints.add(main + 2)
    with pytest.raises(UsageError, match="not mapped"):
        s.breakpoints.add(0x10)
    with pytest.raises(UsageError, match="no breakpoint number 1"):
        s.breakpoints.delete(1)
    assert not s.breakpoints and not s.machine.breakpoints
    assert s.breakpoints.add(main).number == 1  # the refused ones took no number


def test_a_stop_at_a_breakpoint_counts_a_hit_on_each_breakpoint_there() -> None:
    s, main, puts = hello()
    one = s.breakpoints.add(main)
    two = s.breakpoints.add(main)
    other = s.breakpoints.add(puts)
    stop = s.cont()
    assert stop.kind is StopKind.BREAKPOINT and stop.pc == main
    assert s.hits == (one, two) and (one.hits, two.hits, other.hits) == (1, 1, 0)
    s.step(0)  # off the breakpoint: a step stop is no hit
    assert s.hits == () and one.hits == 1
    assert s.breakpoints.at(main) == [one, two] and s.breakpoints.at(main + 4) == []


def test_a_temporary_breakpoint_is_deleted_by_its_first_hit() -> None:
    s, main, puts = hello()
    once = s.breakpoints.add(main, temporary=True)
    kept = s.breakpoints.add(puts)
    assert s.cont().pc == main
    assert s.hits == (once,) and once.hits == 1
    assert list(s.breakpoints) == [kept] and s.machine.breakpoints == {puts}
    stops = 0
    while (stop := s.cont()).kind is StopKind.BREAKPOINT:  # puts prints two lines
        stops += 1
        assert stop.pc == puts and s.hits == (kept,) and kept.hits == stops
    assert stop.kind is StopKind.POWER_OFF and stops == 2 and s.hits == ()


def test_deleting_one_of_two_breakpoints_on_an_address_keeps_its_exit() -> None:
    s, main, _ = hello()
    s.breakpoints.add(main)
    s.breakpoints.add(main, temporary=True)
    s.breakpoints.delete(1)
    assert s.machine.breakpoints == {main}
    assert s.cont().pc == main  # the temporary one still stops, and goes
    assert not s.breakpoints and not s.machine.breakpoints


def test_step_over_uses_an_exit_the_breakpoints_never_see() -> None:
    s, main, _ = hello()
    bp = s.breakpoints.add(main)
    s.cont()
    s.step(0, 2)  # at `bl puts`
    stop = s.step_over(0)
    assert stop.kind is StopKind.STEP and stop.pc == main + 12
    assert s.hits == () and list(s.breakpoints) == [bp] and bp.hits == 1
    assert s.machine.breakpoints == {main}


def test_step_over_onto_a_user_breakpoint_is_a_hit() -> None:
    s, main, _ = hello()
    s.breakpoints.add(main)
    after = s.breakpoints.add(main + 12, temporary=True)
    s.cont()
    s.step(0, 2)
    stop = s.step_over(0)
    assert stop.kind is StopKind.BREAKPOINT and s.hits == (after,) and after.hits == 1
    assert s.machine.breakpoints == {main}


def test_restart_and_back_keep_the_breakpoints_and_their_counts() -> None:
    s, main, _ = hello()
    rewind = Rewind(s)
    rewind.checkpoint()
    bp = s.breakpoints.add(main)
    s.cont()
    rewind.checkpoint()
    s.cont()  # to power-off
    rewind.back()
    assert s.last_stop is not None and s.last_stop.pc == main
    assert s.hits == () and bp.hits == 1  # going back is not a hit, and not undone
    s.restart()
    assert s.hits == () and list(s.breakpoints) == [bp] and s.machine.breakpoints == {main}
    assert s.cont().pc == main and bp.hits == 2


def test_not_at_a_call_is_one_message_from_the_session() -> None:
    s, _, _ = hello()
    with pytest.raises(NotAtCall) as before:
        s.reply({0: 0})
    assert str(before.value) == ("not stopped at a call: reply, handle and deny answer a "
                                 "forwarded call (the guest has not started)")
    for answer in (s.handle, s.deny, s.preview):
        with pytest.raises(NotAtCall, match=r"\(the guest has not started\)$"):
            answer()
    s.cont()
    with pytest.raises(NotAtCall, match=r"\(stopped: .*\)$"):
        s.require_call()


def test_resuming_an_unanswered_call_names_it() -> None:
    s, _, _ = hello()
    s.filter.add(PSCI_SYSTEM_OFF, 1, Action.FORWARD)
    assert s.cont().kind is StopKind.CALL
    assert s.require_call() is s.pending
    with pytest.raises(NoAnswer, match="^PSCI_SYSTEM_OFF on vCPU 0 has no answer yet: reply "
                                       "VALUE, handle or deny first$"):
        s.cont()
    assert s.pending is not None and s.pending.answer is None
