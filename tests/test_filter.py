"""Forwarding ranges: KVM's filter rules (reference §4.2, §4.4, §6 rows 19-20) and ours."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcdbg.errors import FilterError, UsageError
from hcdbg.policy.ranges import Action, Filter, Range, parse_range

FWD, DENY, HANDLE = Action.FORWARD, Action.DENY, Action.HANDLE


def test_default_is_handle_like_kvm() -> None:
    f = Filter()
    assert f.default is HANDLE
    assert f.action_for(0x8400_0000, "hvc") is HANDLE
    assert f.action_for(0x8200_0000, "smc") is HANDLE
    assert f.entries() == []


def test_default_can_change() -> None:
    f = Filter(default="deny")
    assert f.action_for(0x8400_0000, "hvc") is DENY
    f.set_default(FWD)
    assert f.action_for(0x8400_0000, "smc") is FWD


def test_forward_one_id_applies_to_both_conduits() -> None:
    # Reference §6 row 19: {base 0x84000000, nr 1, FWD_TO_USER}; HVC and SMC both exit.
    f = Filter()
    f.add(0x8400_0000, 1, FWD)
    assert f.action_for(0x8400_0000, "hvc") is FWD
    assert f.action_for(0x8400_0000, "smc") is FWD
    assert f.action_for(0x8400_0001, "hvc") is HANDLE


def test_deny_psci_version() -> None:
    # Reference §4.4 test 7.
    f = Filter()
    f.add(0x8400_0000, 1, "deny")
    assert f.action_for(0x8400_0000, "smc") is DENY


@pytest.mark.parametrize("base", [0xC400_0003, 0])
def test_empty_range_is_rejected(base: int) -> None:
    # Reference §4.4 test 2 (newer selftest: base 0, nr 0 too).
    with pytest.raises(FilterError):
        Filter().add(base, 0, DENY)


def test_overflowing_range_is_rejected() -> None:
    # Reference §4.4 test 3: base ~0, nr ~0.
    with pytest.raises(FilterError):
        Filter().add(0xFFFF_FFFF, 0xFFFF_FFFF, DENY)
    with pytest.raises(FilterError):
        Filter().add(0xFFFF_FFF0, 0x11, DENY)


def test_last_id_is_allowed() -> None:
    f = Filter()
    f.add(0xFFFF_FFF0, 0x10, DENY)
    assert f.action_for(0xFFFF_FFFF, "hvc") is DENY


@pytest.mark.parametrize("base", [0x8000_8000, 0xC000_0000, 0x8000_FFFF, 0xC000_FFFF])
def test_kvm_strict_rejects_reserved_ranges(base: int) -> None:
    # Reference §4.4 test 5 / §6 row 20: EEXIST for the Arm architecture ranges.
    with pytest.raises(FilterError, match="reserved"):
        Filter(kvm_strict=True).add(base, 1, DENY)
    Filter().add(base, 1, DENY)  # allowed by default: a debugger may forward them


def test_kvm_strict_catches_straddling_ranges_only() -> None:
    f = Filter(kvm_strict=True)
    with pytest.raises(FilterError):
        f.add(0x7FFF_FFFF, 2, FWD)
    f.add(0x7FFF_FFFF, 1, FWD)
    f.add(0x8001_0000, 1, FWD)
    f.add(0xBFFF_0000, 0x1_0000, FWD)


def test_overlap_is_rejected() -> None:
    # Reference §4.4 test 6: DENY CPU_ON64 twice.
    f = Filter()
    f.add(0xC400_0003, 1, DENY)
    with pytest.raises(FilterError, match="overlaps filter entry 1"):
        f.add(0xC400_0003, 1, DENY)


def test_overlap_message_names_the_entry() -> None:
    f = Filter()
    f.add(0x8200_0000, 0x100, DENY)
    f.add(0x8400_0000, 0x20, FWD)
    with pytest.raises(FilterError) as info:
        f.add(0x8400_0003, 1, DENY)
    assert str(info.value) == ("0x84000003-0x84000003 (deny, both) overlaps filter entry 2: "
                               "0x84000000-0x8400001f (forward, both)")


@pytest.mark.parametrize(("base", "count", "ok"), [
    (0x8400_0020, 1, True), (0x83FF_FFFF, 1, True), (0x83FF_FFFF, 2, False),
    (0x8400_001F, 1, False), (0x8300_0000, 0x200_0000, False),
])
def test_overlap_edges(base: int, count: int, ok: bool) -> None:
    f = Filter()
    f.add(0x8400_0000, 0x20, FWD)
    if ok:
        f.add(base, count, DENY)
    else:
        with pytest.raises(FilterError):
            f.add(base, count, DENY)


def test_hvc_range_does_not_affect_smc() -> None:
    f = Filter()
    f.add(0x8400_0000, 0x20, FWD, "hvc")
    assert f.action_for(0x8400_0003, "hvc") is FWD
    assert f.action_for(0x8400_0003, "smc") is HANDLE


def test_hvc_and_smc_ranges_coexist() -> None:
    f = Filter()
    f.add(0x8400_0000, 0x20, FWD, "hvc")
    f.add(0x8400_0000, 0x20, DENY, "smc")
    assert f.action_for(0x8400_0005, "hvc") is FWD
    assert f.action_for(0x8400_0005, "smc") is DENY
    with pytest.raises(FilterError):
        f.add(0x8400_0005, 1, HANDLE, "both")
    with pytest.raises(FilterError):
        f.add(0x8400_0005, 1, HANDLE, "hvc")


@pytest.mark.parametrize("existing", ["hvc", "smc"])
def test_both_conflicts_with_either(existing: str) -> None:
    f = Filter()
    f.add(0x8400_0000, 0x20, FWD, existing)
    with pytest.raises(FilterError):
        f.add(0x8400_0010, 0x20, DENY, "both")
    other = "smc" if existing == "hvc" else "hvc"
    f.add(0x8400_0010, 0x20, DENY, other)


def test_action_for_at_range_edges() -> None:
    f = Filter()
    f.add(0x8400_0000, 0x20, FWD)
    f.add(0x8400_0020, 0x1, DENY)
    assert f.action_for(0x83FF_FFFF, "hvc") is HANDLE
    assert f.action_for(0x8400_0000, "hvc") is FWD
    assert f.action_for(0x8400_001F, "hvc") is FWD
    assert f.action_for(0x8400_0020, "hvc") is DENY
    assert f.action_for(0x8400_0021, "hvc") is HANDLE
    assert f.action_for(0, "hvc") is HANDLE


def test_action_for_uses_w0() -> None:
    f = Filter()
    f.add(0x8400_0000, 1, FWD)
    assert f.action_for(0xFFFF_FFFF_8400_0000, "hvc") is FWD


def test_entries_sorted_and_numbered() -> None:
    """Sorted by base; numbered in the order they were added, numbers never reused (gdb)."""
    f = Filter()
    f.add(0xC400_0000, 0x20, FWD)
    f.add(0x8400_0000, 0x20, FWD)
    f.add(0x8200_0000, 1, DENY, "smc")
    assert [r.base for r in f.entries()] == [0x8200_0000, 0x8400_0000, 0xC400_0000]
    assert [n for n, _ in f.numbered()] == [3, 2, 1]
    gone = f.remove(2)
    assert gone == Range(0x8400_0000, 0x20, FWD, "both")
    assert f.action_for(0x8400_0000, "hvc") is HANDLE
    assert [r.base for r in f.entries()] == [0x8200_0000, 0xC400_0000]
    for bad in (0, 2, 4):
        with pytest.raises(UsageError, match=f"no filter entry {bad} \\(entries: 1, 3\\)"):
            f.remove(bad)
    f.add(0x8400_0000, 0x20, FWD)
    assert [n for n, _ in f.numbered()] == [3, 4, 1]
    f.clear()
    assert f.add(0x1, 1, FWD) and f.numbered()[0][0] == 5


def test_a_refused_add_all_leaves_ranges_and_numbers_as_they_were() -> None:
    f = Filter()
    f.add(0x8400_0003, 1, DENY)
    with pytest.raises(FilterError, match="overlaps filter entry 1"):
        f.add_all([(0x8200_0000, 1, "both"), (0x8400_0000, 0x20, "both")], FWD)
    assert [(n, r.base) for n, r in f.numbered()] == [(1, 0x8400_0003)]
    assert f.action_for(0x8200_0000, "hvc") is HANDLE
    assert f.add(0x8200_0000, 1, FWD) and f.number(f.entries()[0]) == 2


def test_changes_allowed_any_time() -> None:
    f = Filter()
    f.add(0x8400_0000, 0x20, FWD)
    assert f.action_for(0x8400_0003, "hvc") is FWD
    f.remove(1)
    f.add(0x8400_0003, 1, DENY)
    assert f.action_for(0x8400_0003, "hvc") is DENY


def test_remove_range_exact_or_inside() -> None:
    f = Filter()
    for base, count in parse_range("PSCI_CPU_ON"):
        f.add(base, count, DENY)
    f.add(0x8400_0000, 1, FWD)
    f.add(0x8200_0000, 0x10, FWD)
    assert f.remove_range(0x8400_0000, 1) == [Range(0x8400_0000, 1, FWD)]
    removed = f.remove_range(0x8400_0000, 0x20)
    assert removed == [Range(0x8400_0003, 1, DENY)]
    assert [r.base for r in f.entries()] == [0x8200_0000, 0xC400_0003]
    with pytest.raises(UsageError):
        f.remove_range(0x9000_0000, 1)


def test_range_text() -> None:
    r = Range(0x8400_0000, 0x20, FWD)
    assert str(r) == "0x84000000-0x8400001f"
    assert r.end == 0x8400_0020
    assert r.describe() == "0x84000000-0x8400001f (forward, both)"


# --- hypothesis: the bisection agrees with a linear scan -----------------------------------

_SPANS = st.tuples(
    st.one_of(st.integers(0, 80), st.integers(0xFFFF_FFB0, 0xFFFF_FFFF)),
    st.integers(0, 12),
    st.sampled_from(list(Action)),
    st.sampled_from(["hvc", "smc", "both"]),
)


@given(st.lists(_SPANS, max_size=25), st.sampled_from(list(Action)),
       st.lists(st.tuples(st.one_of(st.integers(0, 100), st.integers(0xFFFF_FFA0, 0xFFFF_FFFF)),
                          st.sampled_from(["hvc", "smc"])), min_size=1, max_size=40))
def test_action_for_matches_linear_scan(spans: list, default: Action, probes: list) -> None:
    f = Filter(default=default)
    for base, count, action, scope in spans:
        try:
            f.add(base, count, action, scope)
        except FilterError:
            pass
    entries = f.entries()
    for fid, conduit in probes:
        hits = [r for r in entries
                if r.base <= fid < r.base + r.count and r.scope in (conduit, "both")]
        assert len(hits) <= 1  # ranges never overlap within one conduit
        expected = hits[0].action if hits else default
        assert f.action_for(fid, conduit) is expected


# --- export to KVM ---------------------------------------------------------------------------

def test_export_kvm_psci() -> None:
    f = Filter()
    for base, count in parse_range("psci"):
        f.add(base, count, FWD)
    lines, notes = f.export_kvm()
    assert lines == [
        "{ .base = 0x84000000, .nr_functions = 0x20, .action = KVM_SMCCC_FILTER_FWD_TO_USER }",
        "{ .base = 0x95c1ba5e, .nr_functions = 0x4, .action = KVM_SMCCC_FILTER_FWD_TO_USER }",
        "{ .base = 0xc4000000, .nr_functions = 0x20, .action = KVM_SMCCC_FILTER_FWD_TO_USER }",
    ]
    assert any("kvm_strict" in n for n in notes)


def test_export_kvm_notes_what_kvm_cannot_do() -> None:
    f = Filter()
    f.add(0x8200_0000, 0x100, FWD, "hvc")
    f.add(0x8000_0000, 1, FWD)  # SMCCC_VERSION: reserved by KVM
    f.add(0x8400_0000, 1, DENY)
    lines, notes = f.export_kvm(answer_rules=2)
    assert lines == ["{ .base = 0x84000000, .nr_functions = 0x1, "
                     ".action = KVM_SMCCC_FILTER_DENY }"]
    text = "\n".join(notes)
    assert "0x82000000-0x820000ff (forward, hvc)" in text
    assert "EEXIST" in text
    assert "2 conditional answer rule(s)" in text


def test_export_kvm_default_as_gaps() -> None:
    f = Filter(default=DENY)
    f.add(0x8400_0000, 0x20, FWD)
    lines, notes = f.export_kvm()
    bases = [int(line.split(".base = ")[1].split(",")[0], 16) for line in lines]
    sizes = [int(line.split(".nr_functions = ")[1].split(",")[0], 16) for line in lines]
    covered = sum(sizes)
    # Everything but KVM's two reserved 0x10000-ID ranges is described.
    assert covered == (1 << 32) - 2 * 0x1_0000
    assert 0x8400_0000 in bases
    assert any("default deny" in n for n in notes)


# --- parse_range ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ranges"), [
    ("0x84000000+0x20", [(0x8400_0000, 0x20)]),
    ("0xC4000000-0xC400001F", [(0xC400_0000, 0x20)]),
    ("0x84000000", [(0x8400_0000, 1)]),
    ("2214592512", [(0x8400_0000, 1)]),
    ("psci", [(0x8400_0000, 0x20), (0xC400_0000, 0x20), (0x95C1_BA5E, 4)]),
    ("TRNG", [(0x8400_0050, 4), (0xC400_0050, 4)]),
    ("vendor-hyp", [(0x8600_0000, 0x1_0000), (0xC600_0000, 0x1_0000)]),
    ("sip", [(0x8200_0000, 0x1_0000), (0xC200_0000, 0x1_0000)]),
    ("PSCI_CPU_ON", [(0x8400_0003, 1), (0xC400_0003, 1)]),
    ("cpu_on", [(0x8400_0003, 1), (0xC400_0003, 1)]),
    ("PSCI_CPU_ON_64", [(0xC400_0003, 1)]),
    ("0xffffffff+0xffffffff", [(0xFFFF_FFFF, 0xFFFF_FFFF)]),  # Filter.add refuses it
])
def test_parse_range(text: str, ranges: list[tuple[int, int]]) -> None:
    assert parse_range(text) == ranges


@pytest.mark.parametrize(("text", "hint"), [
    ("bogus", "BASE+COUNT"),
    ("PSCI_CPU_OM", "PSCI_CPU_ON"),
    ("0x84000010-0x84000000", "below"),
    ("0x100000000", "32-bit"),
    ("VERSION", "ambiguous"),
])
def test_parse_range_errors(text: str, hint: str) -> None:
    with pytest.raises(UsageError, match=re.escape(hint)):
        parse_range(text)


def test_bad_action_and_scope() -> None:
    with pytest.raises(UsageError):
        Filter().add(0x8400_0000, 1, "allow")
    with pytest.raises(UsageError):
        Filter().add(0x8400_0000, 1, FWD, "svc")


def test_uncovered_gives_only_what_no_entry_decides_per_conduit() -> None:
    f = Filter()
    f.add(0x8400_0003, 1, Action.DENY, "smc")
    f.add(0x8400_0010, 0x10, Action.HANDLE, "both")
    # For either conduit: the smc-only entry leaves its hvc side free.
    assert f.uncovered([(0x8400_0000, 0x20)], "call") == [
        (0x8400_0000, 3, "both"), (0x8400_0003, 1, "hvc"), (0x8400_0004, 0xC, "both")]
    assert f.uncovered([(0x8400_0000, 0x20)], "smc") == [(0x8400_0000, 3, "smc"), (0x8400_0004, 0xC, "smc")]
    assert f.uncovered([(0x8400_0010, 0x10)], "hvc") == []
    # Whatever it returns can be added without an overlap error.
    for base, count, scope in f.uncovered([(0, 1 << 32)], "call"):
        f.add(base, count, Action.FORWARD, scope)
    assert f.action_for(0x8400_0003, "hvc") is Action.FORWARD
    assert f.action_for(0x8400_0003, "smc") is Action.DENY
