"""Plain-text teaching descriptions of a function ID, a function name or a service."""
from __future__ import annotations

from hcdbg.smccc.catalog import SERVICES, Service, all_functions, find, lookup, service_of
from hcdbg.smccc.decode import arg_mask, decode, hex32
from hcdbg.smccc.function import Function
from hcdbg.smccc.ids import MASK32
from hcdbg.smccc.retcodes import describe_code


def explain(subject: int | str) -> list[str]:
    """Lines describing a function ID, a function name ("CPU_ON" gives both its IDs) or a
    service name ("psci"). Never raises: an unknown ID still gets its fields explained, an
    unknown name one line saying so (values.function_or_name reads and checks user text)."""
    if isinstance(subject, int):
        return explain_id(subject)
    text = subject.strip()
    service = SERVICES.get(text.lower().replace("_", "-"))
    if service is not None:
        return explain_service(service)
    lines: list[str] = []
    for function in find(text):
        if lines:
            lines.append("")
        lines.extend(explain_id(function.fid))
    return lines or [f"{text}: no function or service of that name"]


def _field_lines(fid: int) -> list[str]:
    f = decode(fid)
    fast = "fast call (atomic)" if f.fast else "yielding call (pre-emptible)"
    width = "SMC64/HVC64: 64-bit x registers" if f.smc64 else "SMC32/HVC32: 32-bit w registers"
    if f.fast:
        mbz = "must be zero in a fast call; since SMCCC 1.3 bit 16 is the SVE hint"
        if f.sve_hint:
            mbz += " (set: no SVE state above 128 bits need be preserved)"
    else:
        mbz = "not constrained in a yielding call"
    return [
        f"  bit 31      {int(f.fast):<7} {fast}",
        f"  bit 30      {int(f.smc64):<7} {width}",
        f"  bits 29:24  {f.oen:<7} owning entity: {f.owner}",
        f"  bits 23:16  0x{f.mbz:02x}    {mbz}",
        f"  bits 15:0   0x{f.number:04x}  function number",
    ]


def explain_id(fid: int) -> list[str]:
    """Lines describing function ID `fid` (only W0 counts), known or not."""
    fid &= MASK32
    function = lookup(fid)
    f = decode(fid)
    service = service_of(fid)
    if function is None:
        title = "not in hcdbg's catalog"
    elif function.smccc:
        title = f"{function.name} ({function.width})"
    else:
        title = function.name
    lines = [f"{hex32(fid)}: {title}, service {service}"]
    lines.extend(_field_lines(fid))
    if function is not None and not function.smccc:
        lines.append("  note: a PSCI 0.1 ID chosen by KVM/QEMU before SMCCC existed; "
                     "its fields mean nothing")
    else:
        lines.extend(f"  problem: {p}" for p in f.problems)
    if service in SERVICES:
        lines.append(f"service {service}: {SERVICES[service].description}")
    if function is None:
        lines.append("a callee that does not implement an ID answers NOT_SUPPORTED: x0 = -1 "
                     "sign-extended, 0xffffffffffffffff (DEN0028B and later; DEN0028A asked "
                     "only for w0 = 0xffffffff)")
        return lines
    lines.extend(_function_lines(function, fid))
    return lines


def _function_lines(function: Function, fid: int) -> list[str]:
    lines = [
        f"what it does: {function.summary}",
        f"since {function.since}; spec {function.spec}",
    ]
    reg = "w" if arg_mask(fid) == MASK32 else "x"
    if function.args:
        lines.append("arguments:")
        lines.extend(f"  {reg}{n} {arg.name}: {arg.meaning}"
                     for n, arg in enumerate(function.args, 1))
    else:
        lines.append("arguments: none")
    lines.append(f"result: {function.result}")
    if function.returns:
        lines.append("return codes:")
        view = function.smc64 if function.smccc else None
        lines.extend(f"  {describe_code(function.service, name, view)}"
                     for name in function.returns)
    if function.kvm:
        lines.append(f"KVM answers: {function.kvm}")
    if function.qemu:
        lines.append(f"QEMU (TCG) answers: {function.qemu}")
    return lines


def explain_service(service: Service) -> list[str]:
    """Lines describing a service: its ranges and the functions the catalog knows in it."""
    lines = [f"service {service.name}: {service.description}", "ranges:"]
    lines.extend(f"  {hex32(base)}-{hex32(base + count - 1)} ({count:#x} IDs)"
                 for base, count in service.ranges)
    functions = [f for f in all_functions() if service.contains(f.fid)]
    if functions:
        lines.append("functions:")
        lines.extend(f"  {hex32(f.fid)} {f.name} ({f.width}, {f.since})" for f in functions)
    return lines
