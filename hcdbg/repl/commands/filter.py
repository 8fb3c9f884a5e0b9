"""Forwarding ranges (KVM_ARM_VM_SMCCC_FILTER-like): filter list/add/del/default/export, catch."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hcdbg.errors import HcdbgError, UsageError
from hcdbg.stop import CATCH_NAMES
from hcdbg.policy.ranges import Action, Range, parse_range
from hcdbg.repl.commands import Parser, command
from hcdbg.repl import intids
from hcdbg.smccc import catalog
from hcdbg.values import decimal

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger

_RANGE_HELP = ("RANGE: BASE+COUNT (0x84000000+0x20), FIRST-LAST (0xc4000000-0xc400001f), "
               "one function ID, a service (psci, trng, smccc-arch, vendor-hyp, sip, ...) or "
               "a function name (PSCI_CPU_ON: both its IDs)")
_ACTIONS = "ACTION: forward (stop and let you answer), handle (built-in handlers), deny " \
           "(NOT_SUPPORTED)"


def covers(r: Range) -> str:
    """What a range covers, in names: a service, a function, or the service of its base."""
    for svc in catalog.SERVICES.values():
        if (r.base, r.count) in svc.ranges:
            return svc.name
    if r.count == 1:
        fn = catalog.lookup(r.base)
        if fn is not None:
            return f"{fn.name} ({fn.width})"
    if r.base == 0 and r.count == 1 << 32:
        return "every function ID"
    first, last = catalog.service_of(r.base), catalog.service_of(r.end - 1)
    return first if first == last else f"{first} .. {last}"


def _add(dbg: Debugger, text: str, action: Action | str, scope: str) -> list[tuple[int, Range]]:
    """Add every part of RANGE, all or none; return (entry number, range) of each."""
    parts = parse_range(text)
    flt = dbg.session.filter
    added: list[Range] = []
    try:
        for base, count in parts:
            added.append(flt.add(base, count, action, scope))
    except HcdbgError:
        for r in added:  # roll back: a failed command leaves the filter as it was
            flt.remove(flt.entries().index(r) + 1)
        raise
    entries = flt.entries()
    return sorted((entries.index(r) + 1, r) for r in added)


p = Parser("filter", "Show or change the forwarding ranges.\nThey say which calls stop at "
           "the prompt (forward), which the built-in handlers answer (handle), which get NOT_SUPPORTED "
           "(deny). 'filter' alone lists them.", usage="filter list|add|del|default|export ...")


@command(p, aliases=("ranges",), category="ranges", prefix_default="list")
def do_filter(dbg: Debugger, args: argparse.Namespace) -> None:
    do_filter_list(dbg, args)


p = Parser("filter list", "List the ranges and the default action.\nRanges are numbered from 1; "
           "the default applies to calls outside them.")


@command(p, aliases=("filter ls", "info filter", "info ranges"), category="ranges")
def do_filter_list(dbg: Debugger, args: argparse.Namespace) -> None:
    flt = dbg.session.filter
    entries = flt.entries()
    if entries:
        dbg.message("Num  Range                  Action   Conduit  Covers")
        for n, r in enumerate(entries, 1):
            dbg.message(f"{n:<4} {str(r):<22} {r.action.value:<8} {r.scope:<8} {covers(r)}")
    else:
        dbg.message("No ranges.")
    dbg.message(f"default: {flt.default.value} (calls outside every range)")


p = Parser("filter add", f"Add a range: calls in RANGE get ACTION.\nThrough hvc, smc or both "
           f"(default both). Ranges may not overlap.\n{_RANGE_HELP}\n{_ACTIONS}")
p.arg("range", metavar="RANGE", complete="range")
p.arg("action", metavar="ACTION", complete="action")
p.arg("conduit", nargs="?", default="both", metavar="hvc|smc|both", complete="conduit")


@command(p, category="ranges")
def do_filter_add(dbg: Debugger, args: argparse.Namespace) -> None:
    for n, r in _add(dbg, args.range, args.action, args.conduit):
        dbg.message(f"filter entry {n}: {r.describe()}  {covers(r)}")


p = Parser("filter del", f"Delete ranges.\nRange N (as 'filter list' numbers them), the "
           f"ranges inside RANGE, or every range (no argument).\n{_RANGE_HELP}")
p.arg("what", nargs="?", metavar="N|RANGE", complete="range")


@command(p, aliases=("filter delete", "filter rm", "filter remove"), category="ranges")
def do_filter_del(dbg: Debugger, args: argparse.Namespace) -> None:
    flt = dbg.session.filter
    if args.what is None:
        count = len(flt.entries())
        flt.clear()
        dbg.message(f"Deleted {count} range(s); default: {flt.default.value}.")
        return
    entry = decimal(args.what)
    if entry is not None:
        gone = [flt.remove(entry)]
    else:
        parts = parse_range(args.what)
        gone = []
        for base, count in parts:
            try:
                gone.extend(flt.remove_range(base, count))
            except UsageError:
                if len(parts) == 1:
                    raise
        if not gone:
            raise UsageError(f"no range inside {args.what!r} ('filter list' shows them)")
    for r in gone:
        dbg.message(f"Deleted {r.describe()}  {covers(r)}")


p = Parser("filter default", f"Set the action for calls outside every range.\n{_ACTIONS}")
p.arg("action", metavar="ACTION", complete="action")


@command(p, category="ranges")
def do_filter_default(dbg: Debugger, args: argparse.Namespace) -> None:
    dbg.session.filter.set_default(args.action)
    dbg.message(f"default: {dbg.session.filter.default.value}")


p = Parser("filter export", "Print the ranges as KVM 'struct kvm_smccc_filter' entries.\nFor "
           "KVM_ARM_VM_SMCCC_FILTER, with notes on what KVM cannot express.",
           usage="filter export kvm")
p.arg("format", nargs="?", default="kvm", choices=("kvm",), metavar="kvm", complete="export")


@command(p, category="ranges")
def do_filter_export(dbg: Debugger, args: argparse.Namespace) -> None:
    lines, notes = dbg.session.filter.export_kvm(len(dbg.session.rules.entries()))
    dbg.message("/* ioctl(vm_fd, KVM_SET_DEVICE_ATTR, { .group = KVM_ARM_VM_SMCCC_CTRL, "
                ".attr = KVM_ARM_VM_SMCCC_FILTER, .addr = &f }) for each f: */")
    dbg.message("struct kvm_smccc_filter filters[] = {")
    for text in lines:
        dbg.message(f"\t{text},")
    dbg.message("};")
    for note in notes:
        dbg.message(f"// note: {note}", "class:hint")


_EXCEPTIONS = "|".join(CATCH_NAMES)
p = Parser("catch", "Stop at calls through hvc, smc or either (call), at a guest exception, or "
           "when a vCPU takes an IRQ.\n"
           "Like gdb's 'catch syscall': adds a forward range for that conduit. No RANGE: every "
           f"function ID (0x0+0x100000000). 'catch {_EXCEPTIONS}' stops when the guest takes "
           "that exception, before its vectors do ('catch dabt off' stops no more).\n"
           "'catch irq' stops at the IRQ vector when a vCPU takes any IRQ, or only those INTIDs "
           "(27, or a run 0-15; 'info gic' names them); before the guest's handler acknowledges "
           "it, so ELR_EL1 is where it interrupted. 'catch irq off' stops no more.\n"
           f"{_RANGE_HELP}",
           usage=f"catch hvc|smc|call [RANGE] | catch {_EXCEPTIONS} [off] | "
                 "catch irq [INTID ...|off]")
p.arg("conduit", choices=("hvc", "smc", "call", *CATCH_NAMES, "irq"),
      metavar=f"hvc|smc|call|{_EXCEPTIONS}|irq", complete="catch")
p.arg("what", nargs="*", metavar="RANGE|off|INTID", complete="catch-what")


@command(p, category="ranges")
def do_catch(dbg: Debugger, args: argparse.Namespace) -> None:
    """Unlike 'filter add', catch fills only the gaps between existing entries, as gdb's
    catchpoints never conflict with each other; an entry that already decides a call wins."""
    if args.conduit == "irq":
        _catch_irq(dbg, args.what)
        return
    if len(args.what) > 1:
        raise UsageError(f"catch {args.conduit}: one word after it at most, not "
                         f"{' '.join(args.what)!r}")
    what = args.what[0] if args.what else None
    if args.conduit in CATCH_NAMES:
        _catch_exception(dbg, args.conduit, what)
        return
    text = what or "0x0+0x100000000"
    plan = dbg.session.filter.uncovered(parse_range(text), args.conduit)
    if not plan:
        raise UsageError(f"nothing to catch: existing filter entries already decide every ID of "
                         f"'{text}' for {args.conduit} ('filter list' shows them)")
    added: list[tuple[int, Range]] = []
    try:
        for base, count, scope in plan:
            added.extend(_add(dbg, f"{base:#x}+{count:#x}", Action.FORWARD, scope))
    except HcdbgError:
        flt = dbg.session.filter
        for _, r in added:
            flt.remove(flt.entries().index(r) + 1)
        raise
    entries = dbg.session.filter.entries()
    for _, r in added:
        n = entries.index(r) + 1
        dbg.message(f"Catchpoint (filter entry {n}): stop at {r.describe()}  {covers(r)}")


def _catch_irq(dbg: Debugger, words: list[str]) -> None:
    """Catch IRQs: gdb's catchpoints add up, so INTIDs join those caught already; any IRQ
    (no INTID) includes them all."""
    machine = dbg.session.machine
    before = machine.irq.catching
    if words == ["off"]:
        machine.catch_irq(None)
        dbg.message("No IRQ catchpoint." if before is None else
                    f"Catchpoint deleted: vCPUs take {intids.catch_text(before)} without stopping")
        return
    if "off" in words:
        raise UsageError("catch irq off: 'off' stands alone (it deletes the IRQ catchpoint)")
    wanted = intids.parse(words, machine.irq.gic.num_irqs)  # all or none, before any change
    if before is not None and wanted and before:
        wanted |= before
    elif before is not None:
        wanted = frozenset()  # "any" already, or now
    machine.catch_irq(wanted)
    dbg.message(f"Catchpoint: stop at the IRQ vector when a vCPU takes "
                f"{intids.catch_text(wanted)} ('catch irq off' to stop no more)")
    if words and not wanted:
        dbg.message("note: it stopped at any IRQ already; 'catch irq off' first to stop at "
                    "some only", "class:hint")
    if not machine.irq.available:
        dbg.message("note: this Unicorn cannot raise IRQs, so no IRQ is ever taken",
                    "class:hint")


def _catch_exception(dbg: Debugger, short: str, switch: str | None) -> None:
    if switch not in (None, "off"):
        raise UsageError(f"catch {short}: expected nothing or 'off' after it, not '{switch}'")
    name = dbg.session.machine.catch(short, on=switch is None)
    if switch == "off":
        dbg.message(f"Catchpoint deleted: the guest's vectors take each {name} again")
    else:
        dbg.message(f"Catchpoint: stop at each {name} before the guest's vectors take it "
                    f"('catch {short} off' to stop no more)")


p = Parser("info catch", "List the catchpoints: calls, exceptions and IRQs.\nCall catchpoints "
           "are forward ranges ('filter list' shows them all).")


@command(p, aliases=("info catchpoints",), category="ranges")
def do_info_catch(dbg: Debugger, args: argparse.Namespace) -> None:
    machine = dbg.session.machine
    entries = dbg.session.filter.entries()
    forward = [(n, r) for n, r in enumerate(entries, 1) if r.action is Action.FORWARD]
    caught = sorted(machine.config.catch)
    irq = machine.irq.catching
    if not forward and not caught and irq is None:
        dbg.message("No catchpoints.")
        return
    for n, r in forward:
        dbg.message(f"call       filter entry {n}: {r.describe()}  {covers(r)}")
    for name in caught:
        dbg.message(f"exception  {name}, before the guest's vectors take it")
    if irq is not None:
        dbg.message(f"irq        at the IRQ vector: {intids.catch_text(irq)}")
