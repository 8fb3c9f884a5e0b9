"""Looking at the guest: registers, memory (x), disassembly, symbols, UART output, context."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hcdbg.errors import UsageError
from hcdbg.machine import registers
from hcdbg.render import disasm
from hcdbg.render.call_lines import hexv
from hcdbg.values import decode_escapes
from hcdbg.repl.commands import Parser, command, subcommands
from hcdbg.repl.examine import examine, parse_format, quote_bytes
from hcdbg.values import number

if TYPE_CHECKING:
    from hcdbg.repl.debugger import Debugger


p = Parser("info", "Show things about the guest and the debugger.\nType 'info SUBCOMMAND'.")


@command(p, aliases=("i",), category="inspecting")
def do_info(dbg: Debugger, args: argparse.Namespace) -> None:
    for sub in subcommands("info"):
        dbg.message(f"{sub.name:<18} {sub.summary}")


p = Parser("info registers", "Registers of the selected vCPU.\nAll of them, or the NAMEs "
           "(x0, w1, sp, pc, lr, pstate, elr_el1, ...; a $ is allowed).")
p.arg("names", nargs="*", metavar="NAME", complete="register")


@command(p, aliases=("regs", "info r", "info all-registers"), category="inspecting")
def do_info_registers(dbg: Debugger, args: argparse.Namespace) -> None:
    names = args.names or registers.DISPLAY_ORDER
    values = [(name.lstrip("$").lower(), dbg.register(name)) for name in names]  # all or none
    symbols = dbg.session.machine.image.symbols
    for name, value in values:
        natural = str(value)
        if name in ("pc", "lr", "x30", "elr_el1"):
            sym = symbols.describe(value)
            natural = hexv(value) + (f" <{sym}>" if sym else "")
        dbg.message(f"{name:<10} {hexv(value):<20} {natural}")


p = Parser("set", "Change a register of the selected vCPU.\nset $x0 = VALUE (gdb also "
           "writes 'set var $x0 = VALUE'). VALUE: a number, $reg, symbol, return-code or "
           "function name, or a sum (main+8).", usage="set [var] $REG = VALUE")
p.arg("assignment", nargs="+", metavar="$REG = VALUE", complete="lvalue")


@command(p, category="inspecting")
def do_set(dbg: Debugger, args: argparse.Namespace) -> None:
    words = list(args.assignment)
    if words[0] in ("var", "variable"):
        words = words[1:]
    lhs, eq, rhs = " ".join(words).partition("=")
    if not eq or not lhs.strip() or not rhs.strip():
        raise UsageError("expected set $REG = VALUE, e.g. set $x0 = 0x10000")
    name = lhs.strip()
    if not name.startswith("$"):
        raise UsageError(f"'{name}': registers are written with a $: set ${name.lower()} = ...")
    dbg.register(name)  # unknown register: UsageError before anything is parsed
    value = dbg.value(rhs)
    dbg.vcpu.write(name[1:], value)
    dbg.message(f"{name[1:].lower()} = {hexv(dbg.register(name))}")


p = Parser("x", "Examine memory (gdb's x).\nN units of format F and size U at ADDRESS.\n"
           "F: x hex, d signed, u unsigned, o octal, t binary, a address, c char, s string, "
           "i instruction, z zero-padded hex. U: b byte, h halfword, w word (4), g giant (8).\n"
           "ADDRESS: a number, $reg, symbol or sum ($sp+16). No ADDRESS: go on after the last "
           "x. F and U default to the last used.", usage="x[/NFU] [ADDRESS]")
p.arg("words", nargs="*", metavar="ADDRESS", complete="location")


@command(p, aliases=("examine",), category="inspecting")
def do_x(dbg: Debugger, args: argparse.Namespace) -> None:
    words = list(args.words)
    fmt = dbg.last_format
    if words and words[0].startswith("/"):
        fmt = parse_format(words.pop(0), dbg.last_format)
    else:
        fmt = type(fmt)(1, fmt.fmt, fmt.size)
    if words:
        address = dbg.address(" ".join(words))
    elif dbg.next_examine is not None:
        address = dbg.next_examine
    else:
        raise UsageError("x needs an ADDRESS the first time (x/4xw $sp)")
    machine = dbg.session.machine

    def read(at: int, size: int) -> bytes:
        return machine.read_memory(at, size, dbg.focus)

    lines, after = examine(read, address, fmt, machine.image.symbols, dbg.vcpu.pc)
    dbg.last_format, dbg.next_examine = fmt, after
    for text in lines:
        dbg.message(text)


p = Parser("disassemble", "Disassemble instructions.\nN instructions (default 12) from ADDRESS; "
           "without ADDRESS, around the selected vCPU's PC (=> marks it).",
           usage="disassemble [ADDRESS [N]]")
p.arg("address", nargs="?", metavar="ADDRESS", complete="location")
p.arg("count", nargs="?", metavar="N")


@command(p, aliases=("disas", "dis"), category="inspecting")
def do_disassemble(dbg: Debugger, args: argparse.Namespace) -> None:
    machine = dbg.session.machine
    pc = dbg.vcpu.pc

    def read(at: int, size: int) -> bytes:
        return machine.read_memory(at, size, dbg.focus)

    count = 12
    if args.count is not None:
        count = number(args.count, "count of instructions", 1, 4096)
    if args.address is None:
        insns = disasm.window(read, pc, before=5, after=6)
    else:
        address = dbg.address(args.address)
        insns = disasm.read_insns(read, address, count)
    dbg.message(disasm.listing(insns, machine.image.symbols, pc))


p = Parser("info symbol", "The symbol at or below ADDRESS (name+offset).")
p.arg("address", nargs="+", metavar="ADDRESS", complete="location")


@command(p, category="inspecting")
def do_info_symbol(dbg: Debugger, args: argparse.Namespace) -> None:
    address = dbg.address(" ".join(args.address))
    sym = dbg.session.machine.image.symbols.describe(address)
    if sym is None:
        dbg.message(f"No symbol matches {hexv(address)}.")
    else:
        name, plus, off = sym.partition("+")
        dbg.message(f"{name} + {int(off, 16)}" if plus else name)


p = Parser("uart", "The guest's console (PL011) output of this run so far.\n"
           "'uart send TEXT' types TEXT into the guest's console.")


@command(p, aliases=("console",), category="inspecting")
def do_uart(dbg: Debugger, args: argparse.Namespace) -> None:
    data = bytes(dbg.session.machine.uart.output[dbg.current_run.uart_start:])
    if not data:
        dbg.message("(no UART output yet)")
        return
    text = data.decode("utf-8", errors="replace").replace("\r", "")
    dbg.message([("class:uart", text if text.endswith("\n") else text + "\n")])


p = Parser("uart send", "Queue TEXT for the guest to read from its UART.\nC escapes "
           "work, quoted or not: uart send \\npoweroff\\n (quote TEXT with spaces). The guest "
           "reads it when it runs again; UARTFR.RXFE tells it a byte is waiting. What was "
           "queued is shown, quoted.", usage="uart send TEXT")
p.arg("text", metavar="TEXT")


@command(p, category="inspecting")
def do_uart_send(dbg: Debugger, args: argparse.Namespace) -> None:
    data = decode_escapes(args.text)
    dbg.session.send_uart(data)
    shown = quote_bytes(data[:_SHOWN]) + ("..." if len(data) > _SHOWN else "")
    dbg.message(f"{len(data)} byte(s) queued for the guest's UART "
                f"({len(dbg.session.machine.uart.rx)} waiting): {shown}")


_SHOWN = 64  # bytes of what `uart send` queued that it shows


p = Parser("context", "Show the context view again.\nWhy we stopped, the call, registers, "
           "code.")


@command(p, aliases=("ctx",), category="inspecting")
def do_context(dbg: Debugger, args: argparse.Namespace) -> None:
    dbg.show_context()
