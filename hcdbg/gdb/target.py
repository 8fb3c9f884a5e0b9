"""What gdb sees of a Session: the AArch64 target description, registers, memory (through
each vCPU's stage 1 tables, as the REPL's `x`), breakpoints, and threads = vCPUs.

Thread ids are vCPU index + 1 (gdb reserves 0 for "any" and -1 for "all"). Register
numbers follow the target description below: x0..x30 = 0..30, sp 31, pc 32, cpsr 33 (32
bits), v0..v31 = 34..65 (128 bits), fpsr 66, fpcr 67 (32 bits); all little-endian.
"""
from __future__ import annotations

from dataclasses import dataclass

from hcdbg.errors import HcdbgError, UsageError
from hcdbg.gdb.packets import MAX_MEMORY_READ
from hcdbg.session.session import Session
from hcdbg.smccc.call import PowerState
from hcdbg.stop import Stop, StopKind


@dataclass(frozen=True)
class Reg:
    """One register of the description: its name, size in bytes, and how hcdbg reads it."""

    name: str
    size: int
    vector: int | None = None  # v<n>: read through Vcpu.read_vector


REGISTERS: tuple[Reg, ...] = (
    *(Reg(f"x{i}", 8) for i in range(31)), Reg("sp", 8), Reg("pc", 8), Reg("pstate", 4),
    *(Reg(f"v{i}", 16, vector=i) for i in range(32)), Reg("fpsr", 4), Reg("fpcr", 4))

_CORE = "\n".join(
    [*(f'  <reg name="x{i}" bitsize="64" regnum="{i}"/>' for i in range(31)),
     '  <reg name="sp" bitsize="64" type="data_ptr" regnum="31"/>',
     '  <reg name="pc" bitsize="64" type="code_ptr" regnum="32"/>',
     # PSTATE as SPSR_EL1 lays it out for AArch64 (Arm ARM, SPSR_EL1): gdb names set flags
     '  <flags id="cpsr_flags" size="4">',
     *(f'    <field name="{n}" start="{b}" end="{e}"/>' for n, b, e in (
         ("SP", 0, 0), ("EL", 2, 3), ("nRW", 4, 4), ("F", 6, 6), ("I", 7, 7), ("A", 8, 8),
         ("D", 9, 9), ("IL", 20, 20), ("SS", 21, 21), ("V", 28, 28), ("C", 29, 29),
         ("Z", 30, 30), ("N", 31, 31))),
     '  </flags>',
     '  <reg name="cpsr" bitsize="32" type="cpsr_flags" regnum="33"/>'])
# The vector registers' type: a union of the views gdb's own aarch64 description offers
# (manual "AArch64 Features": v0-v31, fpsr, fpcr), so `p $v0.d.u` and `p $v0.s.f` work.
_FPU = "\n".join(
    ['  <vector id="v2d" type="ieee_double" count="2"/>',
     '  <vector id="v2u" type="uint64" count="2"/>',
     '  <vector id="v2i" type="int64" count="2"/>',
     '  <vector id="v4f" type="ieee_single" count="4"/>',
     '  <vector id="v4u" type="uint32" count="4"/>',
     '  <vector id="v4i" type="int32" count="4"/>',
     '  <vector id="v16u" type="uint8" count="16"/>',
     '  <union id="vnd"><field name="f" type="v2d"/><field name="u" type="v2u"/>'
     '<field name="s" type="v2i"/></union>',
     '  <union id="vns"><field name="f" type="v4f"/><field name="u" type="v4u"/>'
     '<field name="s" type="v4i"/></union>',
     '  <union id="aarch64v"><field name="d" type="vnd"/><field name="s" type="vns"/>'
     '<field name="b" type="v16u"/><field name="q" type="uint128"/></union>',
     *(f'  <reg name="v{i}" bitsize="128" type="aarch64v" regnum="{34 + i}"/>' for i in range(32)),
     '  <reg name="fpsr" bitsize="32" type="uint32" regnum="66"/>',
     '  <reg name="fpcr" bitsize="32" type="uint32" regnum="67"/>'])

TARGET_XML = (
    '<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">\n'
    '<architecture>aarch64</architecture>\n'
    f'<feature name="org.gnu.gdb.aarch64.core">\n{_CORE}\n</feature>\n'
    f'<feature name="org.gnu.gdb.aarch64.fpu">\n{_FPU}\n</feature>\n'
    '</target>\n').encode()

#: POSIX signal numbers gdb knows stops by (gdb/signals.def).
SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11


class GdbTarget:
    """Registers, memory, breakpoints and threads of one Session, in gdb's terms. The
    breakpoints gdb inserts are kept apart from the REPL's numbered ones: an address keeps
    its machine exit while either side has a breakpoint there."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.inserted: set[int] = set()  # addresses of gdb's Z0/Z1 breakpoints
        session.breakpoints.others = self.inserted

    # --- threads --------------------------------------------------------------------------
    @property
    def threads(self) -> list[int]:
        return [v.index + 1 for v in self.session.machine.vcpus]

    def vcpu_of(self, thread: int | None, default: int) -> int:
        """The vCPU index a thread id names (0, -1 or None: `default`); UsageError if none."""
        if thread is None or thread <= 0:
            return default
        if thread > len(self.session.machine.vcpus):
            raise UsageError(f"no thread {thread}")
        return thread - 1

    def thread_text(self, thread: int) -> str:
        """What `info threads` shows for a thread: `vCPU 1 (off)`."""
        v = self.session.machine.vcpus[thread - 1]
        state = {PowerState.ON: "on", PowerState.OFF: "off"}.get(v.state, v.state.name.lower())
        return f"vCPU {v.index}, mpidr {v.mpidr:#x}, {state}"

    # --- registers ---------------------------------------------------------------------------
    def read_register(self, vcpu: int, number: int) -> bytes | None:
        """Register `number`'s bytes (None: no such register)."""
        if not 0 <= number < len(REGISTERS):
            return None
        reg = REGISTERS[number]
        v = self.session.machine.vcpus[vcpu]
        value = v.read_vector(reg.vector) if reg.vector is not None else v.read(reg.name)
        return (value & ((1 << 8 * reg.size) - 1)).to_bytes(reg.size, "little")

    def write_register(self, vcpu: int, number: int, data: bytes) -> bool:
        """Write register `number`; False if there is none or `data` has the wrong size."""
        if not 0 <= number < len(REGISTERS) or len(data) != REGISTERS[number].size:
            return False
        reg = REGISTERS[number]
        v = self.session.machine.vcpus[vcpu]
        value = int.from_bytes(data, "little")
        if reg.vector is not None:
            v.write_vector(reg.vector, value)
        elif reg.name == "pstate" and v.read("pstate") == value:
            pass  # unchanged: spare the rebuild of Unicorn's cached flags
        else:
            v.write(reg.name, value)
        return True

    def read_registers(self, vcpu: int) -> bytes:
        """Every register in description order (gdb's `g`)."""
        return b"".join(self.read_register(vcpu, n) or b"" for n in range(len(REGISTERS)))

    def write_registers(self, vcpu: int, data: bytes) -> bool:
        """Write every register from `data` (gdb's `G`); False if its size is wrong."""
        if len(data) != sum(r.size for r in REGISTERS):
            return False
        at = 0
        for n, reg in enumerate(REGISTERS):
            self.write_register(vcpu, n, data[at:at + reg.size])
            at += reg.size
        return True

    # --- memory ---------------------------------------------------------------------------
    def read_memory(self, vcpu: int, address: int, length: int) -> bytes:
        """Up to `length` bytes at `address` as vCPU `vcpu` sees it (through its stage 1
        tables when its MMU is on). A read that runs into unmapped memory returns the bytes
        before it (gdb takes a short read); UsageError if not even the first byte reads."""
        machine = self.session.machine
        length = min(length, MAX_MEMORY_READ)
        if length == 0:
            return b""
        try:
            return machine.read_memory(address, length, vcpu)
        except UsageError:
            pass
        out = b""
        while len(out) < length:  # page by page: stop at the first that does not read
            at = address + len(out)
            n = min(length - len(out), 0x1000 - (at & 0xFFF))
            try:
                out += machine.read_memory(at, n, vcpu)
            except UsageError:
                break
        if not out:
            raise UsageError(f"cannot access memory at {address:#x}")
        return out

    def write_memory(self, vcpu: int, address: int, data: bytes) -> None:
        """Write guest memory as vCPU `vcpu` sees it (UsageError if unmapped)."""
        if data:
            self.session.machine.write_memory(address, data, vcpu)

    # --- breakpoints --------------------------------------------------------------------------
    def insert_breakpoint(self, address: int) -> None:
        """A gdb breakpoint (software or hardware: both are Unicorn exits here)."""
        if address % 4:
            raise UsageError(f"{address:#x} is not a 4-byte aligned instruction address")
        self.inserted.add(address)
        self.session.machine.add_breakpoint(address)

    def remove_breakpoint(self, address: int) -> None:
        self.inserted.discard(address)
        if not self.session.breakpoints.at(address):
            self.session.machine.remove_breakpoint(address)

    def remove_all(self) -> None:
        """gdb went away: its breakpoints go too."""
        for address in list(self.inserted):
            self.remove_breakpoint(address)


def stop_reply(stop: Stop | None, session: Session) -> bytes:
    """The stop reply packet for `stop` (None: the guest at its entry point, not started).
    A guest that powered off or halted has exited (`W`); every other stop is a signal with
    the vCPU's thread (`T`). A forwarded call is a SIGTRAP without `swbreak`: gdb shows it
    as a plain trap, and the monitor output sent before says which call it is."""
    if stop is None:
        return b"T%02xthread:1;" % SIGTRAP
    if stop.kind is StopKind.POWER_OFF:
        return b"W00"
    if stop.kind is StopKind.HALTED:
        return b"W01"
    signal = {StopKind.INTERRUPT: SIGINT, StopKind.FAULT: SIGSEGV}.get(stop.kind, SIGTRAP)
    thread = stop.vcpu + 1 if 0 <= stop.vcpu < len(session.machine.vcpus) else 1
    return b"T%02xthread:%x;" % (signal, thread)


def resume_error(exc: HcdbgError) -> str:
    """The monitor line for a resume the session refused."""
    return f"*** {exc}\n"
