"""A64 disassembly (capstone 5) with symbols, coloured through a small pygments lexer."""
from __future__ import annotations

import re
from dataclasses import dataclass

from capstone import CS_ARCH_ARM64, CS_MODE_ARM, Cs
from pygments.lexer import RegexLexer
from pygments.token import Comment, Keyword, Name, Number, Punctuation, Text, Whitespace

from hcdbg.errors import UsageError
from hcdbg.code import CodeBytes, Reader, read_window, read_words
from hcdbg.render.style import Fragments, token_class
from hcdbg.stop import SymbolNames

_CS = Cs(CS_ARCH_ARM64, CS_MODE_ARM)

#: Mnemonics whose last operand is a code address worth naming (`bl #0x40080100 <puts>`).
_BRANCHES = re.compile(r"^(b|bl|b\.\w+|cbn?z|tbn?z|adr|adrp)$")
_TARGET = re.compile(r"#(0x[0-9a-f]+)$")


class A64Lexer(RegexLexer):
    """Capstone's A64 operand syntax: registers, #immediates, [memory], shifts, <symbols>."""

    name = "A64 disassembly"
    tokens = {
        "root": [
            (r"^\s*[a-z][\w.]*", Keyword),
            (r"<[^>]*>", Name.Label),
            (r"#-?(0x[0-9a-f]+|\d+)(\.\d+)?", Number),
            (r"\b([xw]([12]?\d|3[01])|[xw]zr|sp|wsp|[vqdshb]\d+(\.\d*[bhsd])?)\b", Name.Variable),
            (r"\b(lsl|lsr|asr|ror|[su]xt[bhwx])\b", Keyword),
            (r"[\[\]!,{}]", Punctuation),
            (r"//.*$", Comment),
            (r"\s+", Whitespace),
            (r"[\w.]+", Text),
            (r".", Text),
        ],
    }


_LEXER = A64Lexer()


@dataclass(frozen=True)
class Insn:
    """One decoded instruction (`mnemonic` is ".inst" for a word capstone cannot decode)."""

    address: int
    word: int
    mnemonic: str
    operands: str

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.operands}".rstrip()


def decode(code: bytes, address: int) -> list[Insn]:
    """Every 4-byte word of `code` as an instruction (undecodable words as `.inst 0x...`)."""
    out = []
    for off in range(0, len(code) - len(code) % 4, 4):
        word = int.from_bytes(code[off:off + 4], "little")
        got = next(_CS.disasm_lite(code[off:off + 4], address + off), None)
        if got is None:
            out.append(Insn(address + off, word, ".inst", f"{word:#010x}"))
        else:
            out.append(Insn(address + off, word, got[2], got[3]))
    return out


def code_insns(code: CodeBytes) -> list[Insn]:
    """The instructions of words read from the guest."""
    return decode(code.data, code.address)


def read_insns(read: Reader, address: int, count: int) -> list[Insn]:
    """Up to `count` instructions from `address`, stopping early at unmapped memory.

    Raises the reader's error only if not even the first word can be read, and UsageError
    for an address that is not 4-byte aligned (no instruction starts there)."""
    if address % 4:
        raise UsageError(f"no instruction starts at {address:#x}: A64 instructions are 4 bytes "
                         f"long and 4-byte aligned (the one holding it is at {address & ~3:#x})")
    return code_insns(read_words(read, address, count))


def window(read: Reader, pc: int, before: int = 4, after: int = 6) -> list[Insn]:
    """Instructions around `pc` (A64 is fixed-width, so going backwards is exact)."""
    return code_insns(read_window(read, pc, before, after))


def annotate(insn: Insn, symbols: SymbolNames) -> str:
    """The operands, with ` <symbol+off>` after a branch or adr target."""
    if _BRANCHES.match(insn.mnemonic):
        m = _TARGET.search(insn.operands)
        if m:
            name = symbols.describe(int(m.group(1), 16))
            if name:
                return f"{insn.operands} <{name}>"
    return insn.operands


def insn_fragments(insn: Insn, symbols: SymbolNames, pc: int | None = None) -> Fragments:
    """One line: `=> 0x40080120 <main+0x20>:  hvc #0` (the marker only at `pc`)."""
    here = insn.address == pc
    sym = symbols.describe(insn.address)
    frags: Fragments = [("class:pc" if here else "", "=> " if here else "   "),
                        ("class:address", f"{insn.address:#x}")]
    if sym:
        frags.append(("class:symbol", f" <{sym}>"))
    frags.append(("", ":\t"))
    body = f"{insn.mnemonic:<7} {annotate(insn, symbols)}".rstrip()
    frags.extend((token_class(tok), text) for tok, text in _LEXER.get_tokens(body)
                 if text != "\n")
    frags.append(("", "\n"))
    return frags


def listing(insns: list[Insn], symbols: SymbolNames, pc: int | None = None) -> Fragments:
    """Lines for several instructions."""
    out: Fragments = []
    for insn in insns:
        out.extend(insn_fragments(insn, symbols, pc))
    return out
