"""Call scripts: the JSON-lines file `--record` writes and `replay` reads, parsed and checked.

One JSON object per line; blank lines and lines starting with `#` are ignored, so a script
can be written and commented by hand. The first object may be a header (`"hcdbg": 1`,
with the guest, machine, firmware, filter and rules of the recorded run). Every other
object is a call entry, console input `{"uart": TEXT}` (typed into the guest's UART once
the calls before it are made; TEXT holds the bytes as code points 0-255), or a rewind marker
`{"back": K}` (the REPL's `back`: only the first K calls before it stand). A header's `from_call` N says the script was recorded from
the run's Nth call on: a replay lets the calls before it through unchecked. An entry names the call (`fid`, or `name` when `fid` is
absent) and, optionally, what to check (`vcpu`, `conduit`, `imm`, `args`) and how to
answer it (`answer`, `by`). What an entry leaves out is not checked; an entry with no
answer is answered by the built-in handler (or denied when `"by": "deny"`).
"""
from __future__ import annotations

import itertools
import json
import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, overload

from hcdbg.errors import UsageError
from hcdbg.files import read_lines
from hcdbg.smccc import catalog
from hcdbg.smccc.decode import arg_names
from hcdbg.smccc.ids import MASK64
from hcdbg.smccc.source import BUILT_IN, BY_USER, BY_WORDS, AnsweredBy, parse_by
from hcdbg.values import register_number, register_value

FORMAT_VERSION = 1
#: The longest call script hcdbg reads (a million calls take ~300 MB).
SCRIPT_MAX = 1 << 30
#: Keys a call entry may have; anything else is a typo worth reporting.
ENTRY_KEYS = {"call", "vcpu", "conduit", "imm", "pc", "fid", "name", "args", "answer", "by",
              "effect", "why"}
HEADER_KEYS = {"hcdbg", "guest", "machine", "firmware", "filter", "rules", "recorded", "from_call"}
class ScriptError(UsageError):
    """A call script that cannot be read: names the file, the line and what is wrong."""


class Entry(NamedTuple):
    """One expected call and, if the script gives one, its answer. A NamedTuple: a replay
    makes one per call from a shared template (Entries), and its dicts are never changed."""

    index: int  # 1-based position among the script's calls (after rewind markers)
    line: int
    fid: int
    vcpu: int | None = None
    conduit: str | None = None
    imm: int | None = None
    args: dict[int, int] = {}  # register number -> value (shared when empty: never changed)
    answer: dict[int, int] | None = None  # register number -> value; None: not given
    by: AnsweredBy = BUILT_IN  # as the script's `by` says: user, built-in, deny, rule N
    effect: str | None = None  # what the recorded answer did to the machine ("CpuOn")

    @property
    def name(self) -> str:
        fn = catalog.lookup(self.fid)
        return fn.name if fn else f"{self.fid:#010x}"


@dataclass(frozen=True)
class UartInput:
    """Bytes typed into the guest's console once `after` calls of the script are made."""

    after: int
    data: bytes


class Entries(Sequence[Entry]):
    """A script's call entries, compactly: recorded calls differ mostly in their number and
    their line, so each distinct entry is kept once (a template) and each call as two 32-bit
    numbers (which template, which line): 8 bytes a call, where Entry objects took ~1.6 KB.
    Reading one makes its Entry."""

    def __init__(self) -> None:
        self._templates: list[Entry] = []
        self._which = array("I")
        self._lines = array("I")

    def append(self, template: int, line: int) -> None:
        self._which.append(template)
        self._lines.append(line)

    def add_template(self, entry: Entry) -> int:
        self._templates.append(entry)
        return len(self._templates) - 1

    def template_numbers(self) -> array:
        """Which template each entry is (the array itself: the replay's fast path reads it)."""
        return self._which

    def truncate(self, count: int) -> None:
        """Keep the first `count` entries (a rewind marker)."""
        del self._which[count:]
        del self._lines[count:]

    def __len__(self) -> int:
        return len(self._which)

    @overload
    def __getitem__(self, i: int) -> Entry: ...

    @overload
    def __getitem__(self, i: slice) -> list[Entry]: ...

    def __getitem__(self, i: int | slice) -> Entry | list[Entry]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self._which)
        return self._templates[self._which[i]]._replace(index=i + 1, line=self._lines[i])


@dataclass(frozen=True)
class Script:
    """A parsed call script: its header (empty dict if none), its call entries and the
    console input between them."""

    path: Path
    header: dict[str, Any]
    entries: Sequence[Entry]
    inputs: tuple[UartInput, ...] = ()


def _fail(path: Path, line: int, message: str) -> ScriptError:
    return ScriptError(f"{path}:{line}: {message}")


def _int(value: Any, what: str, service: str | None = None) -> int:
    """A number given as a JSON integer, a string ("0x10", "-1") or a return-code name."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{what}: expected a number or a string like \"0x10\", got {json.dumps(value)}")
    if isinstance(value, int):
        if not -(1 << 63) <= value <= MASK64:
            raise ValueError(f"{what}: {value} does not fit in a 64-bit register (-2**63 to 2**64-1)")
        return value & MASK64
    try:
        return register_value(value, service)
    except UsageError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _fid(obj: dict[str, Any]) -> int:
    if "fid" in obj:
        fid = _int(obj["fid"], "fid")
        if fid >> 32:
            raise ValueError(f"fid: {fid:#x} is wider than 32 bits (a function ID is W0)")
        return fid
    if "name" not in obj:
        raise ValueError("a call entry needs \"fid\" (e.g. \"0x84000000\") or \"name\" (e.g. \"PSCI_VERSION\")")
    name = obj["name"]
    if not isinstance(name, str):
        raise ValueError(f"name: expected a string, got {json.dumps(name)}")
    found = catalog.find(name)
    if not found:
        close = catalog.suggest(name)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"name: unknown function {name!r}{hint}")
    if len(found) > 1:
        ids = " or ".join(f"{f.fid:#010x}" for f in found)
        raise ValueError(f"name: {name!r} is {ids}: add _32/_64 or give \"fid\"")
    return found[0].fid


def _register_map(value: Any, what: str, names: dict[str, int], service: str | None,
                  lowest: int) -> dict[int, int]:
    """{"x1": "0x2", "target_cpu": 2} -> {1: 2}; registers by xN or by argument name."""
    if not isinstance(value, dict):
        raise ValueError(f"{what}: expected an object like {{\"x1\": \"0x2\"}}, got {json.dumps(value)}")
    out: dict[int, int] = {}
    for key, v in value.items():
        # Values are as recorded (64-bit), so a "wN" key names the register, not a width.
        reg = names.get(key)
        if reg is None and (named := register_number(key)) is not None:
            reg = named[0]
        if reg is None or not lowest <= reg <= 17:
            known = f", or an argument name: {', '.join(names)}" if names else ""
            raise ValueError(f"{what}: unknown register {key!r} (x{lowest}..x17{known})")
        out[reg] = _int(v, f"{what}.{key}", service)
    return out


def parse_entry(obj: dict[str, Any], index: int, line: int) -> Entry:
    """One call entry from its JSON object; raises ValueError saying what is wrong."""
    unknown = sorted(set(obj) - ENTRY_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (a call entry has: {', '.join(sorted(ENTRY_KEYS))})")
    fid = _fid(obj)
    fn = catalog.lookup(fid)
    service = fn.service if fn else None
    names = {name: n for n, name in enumerate(arg_names(fid), 1)}
    vcpu = obj.get("vcpu")
    if vcpu is not None and (isinstance(vcpu, bool) or not isinstance(vcpu, int) or vcpu < 0):
        raise ValueError(f"vcpu: expected a vCPU number (0, 1, ...), got {json.dumps(vcpu)}")
    conduit = obj.get("conduit")
    if conduit is not None and conduit not in ("hvc", "smc"):
        raise ValueError(f"conduit: expected \"hvc\" or \"smc\", got {json.dumps(conduit)}")
    imm = obj.get("imm")
    if imm is not None:
        imm = _int(imm, "imm")
        if imm > 0xFFFF:
            raise ValueError(f"imm: {imm:#x} does not fit the 16-bit HVC/SMC immediate")
    args = _register_map(obj.get("args", {}), "args", names, service, 1)
    answer = None
    if "answer" in obj:
        raw = obj["answer"]
        answer = ({0: _int(raw, "answer", service)} if isinstance(raw, (int, str)) and not isinstance(raw, bool)
                  else _register_map(raw, "answer", {}, service, 0))
    by = _by(obj["by"]) if "by" in obj else BUILT_IN if answer is None else BY_USER
    effect = obj.get("effect")
    if effect is not None and not isinstance(effect, str):
        raise ValueError(f"effect: expected an effect's name (\"CpuOn\", ...), got {json.dumps(effect)}")
    return Entry(index, line, fid, vcpu, conduit, imm, args, answer, by, effect)


def _by(value: Any) -> AnsweredBy:
    by = parse_by(value) if isinstance(value, str) else None
    if by is None:
        raise ValueError(f"by: expected one of {', '.join(BY_WORDS)} or \"rule N\", got {json.dumps(value)}")
    return by


def parse_text(text: str, path: Path) -> Script:
    """Parse a whole script given as text; ScriptError names the first bad line."""
    # Lines end at "\n" only: str.splitlines() would also split at U+2028 and other
    # separators a JSON string may hold as they are.
    return parse_lines((line + "\n" for line in text.split("\n")[:-1]),
                       path, text.rsplit("\n", 1)[-1])


#: The parts of an entry's line that parse_entry does not read (its number, its pc, a
#: "why"), each a whole JSON member; what is left of two lines is the same text only if they
#: are the same entry (a quote inside a JSON string is escaped, so no match starts there).
_UNREAD = re.compile(r'"call": *-?\d+,? *|"pc": *"[^"\\]*",? *|"why": *"(?:[^"\\]|\\.)*",? *')


def parse_lines(lines: Iterable[str], path: Path, last: str = "") -> Script:
    """Parse a script from its lines (each with its "\n"; `last`: a final line without
    one). An entry is parsed once per distinct content: recorded entries differ mostly in
    the members parse_entry does not read (call, pc, why), which the cache leaves out."""
    header: dict[str, Any] = {}
    entries = Entries()
    inputs: list[UartInput] = []
    seen: dict[str, int] = {}  # an entry's line without its unread parts -> its template
    number = 0
    for number, raw in enumerate(itertools.chain(lines, [last] if last else []), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key = _UNREAD.sub("", stripped)
        template = seen.get(key)
        if template is not None:  # the same entry as a line already parsed, but for its number
            entries.append(template, number)
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            # The recorder writes each line whole, so a cut last line is one a person left
            # unfinished: say so rather than drop it.
            cut = "; the last line has no newline: is it cut short?" if not raw.endswith("\n") else ""
            raise _fail(path, number, f"not JSON ({exc.msg} at column {exc.colno}); each line is one "
                        f"JSON object, or a # comment{cut}") from None
        except RecursionError:
            raise _fail(path, number, "JSON nested too deeply (a call script's values are flat)") from None
        except ValueError as exc:  # an integer of more than 4300 digits
            raise _fail(path, number, f"not a JSON value hcdbg can read ({exc})") from None
        if not isinstance(obj, dict):
            raise _fail(path, number, f"expected a JSON object {{...}}, got {type(obj).__name__}")
        try:
            if "hcdbg" in obj:
                if header or len(entries):
                    raise ValueError("a header (\"hcdbg\": ...) may only come first")
                header = _header(obj)
            elif "back" in obj:
                kept = _back(obj, len(entries))
                entries.truncate(kept)
                inputs = [i for i in inputs if i.after <= kept]
            elif "uart" in obj:
                inputs.append(UartInput(len(entries), _uart(obj)))
            else:
                template = entries.add_template(parse_entry(obj, 0, 0))
                seen[key] = template
                entries.append(template, number)
        except ValueError as exc:
            raise _fail(path, number, str(exc)) from None
    return Script(path, header, entries, tuple(inputs))


def _header(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["hcdbg"] != FORMAT_VERSION:
        raise ValueError(f"script format {json.dumps(obj['hcdbg'])} (its \"hcdbg\" key) is not "
                         f"supported: this hcdbg reads format {FORMAT_VERSION}")
    unknown = sorted(set(obj) - HEADER_KEYS)
    if unknown:
        raise ValueError(f"unknown header key {unknown[0]!r} (a header has: {', '.join(sorted(HEADER_KEYS))})")
    for key in ("guest", "machine", "firmware", "filter"):
        if key in obj and not isinstance(obj[key], dict):
            raise ValueError(f"{key}: expected an object, got {json.dumps(obj[key])}")
    for key, value in obj.get("guest", {}).items():
        if key in ("path", "name", "sha256") and not isinstance(value, str):
            raise ValueError(f"guest.{key}: expected a string, got {json.dumps(value)}")
    first = obj.get("from_call", 1)
    if isinstance(first, bool) or not isinstance(first, int) or first < 1:
        raise ValueError(f"from_call: expected the number (1, 2, ...) of the first call the script "
                         f"holds, got {json.dumps(first)}")
    if "rules" in obj and not (isinstance(obj["rules"], list) and all(isinstance(r, str) for r in obj["rules"])):
        raise ValueError("rules: expected a list of answer rules as strings")
    return obj


def _uart(obj: dict[str, Any]) -> bytes:
    text = obj["uart"]
    if set(obj) != {"uart"} or not isinstance(text, str):
        raise ValueError('console input is {"uart": "TEXT"} alone, TEXT a string')
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("uart: TEXT holds bytes as characters U+0000..U+00FF (use \\u00XX)") from None


def _back(obj: dict[str, Any], have: int) -> int:
    if set(obj) != {"back"}:
        raise ValueError("a rewind marker has only \"back\": {\"back\": K}")
    kept = obj["back"]
    if isinstance(kept, bool) or not isinstance(kept, int) or not 0 <= kept <= have:
        raise ValueError(f"back: expected a call count from 0 to {have}, got {json.dumps(kept)}")
    return kept


def load(path: Path) -> Script:
    """Read and parse the script at `path`, a line at a time (ScriptError if unreadable or
    malformed)."""
    offset = 0

    def text() -> Iterator[str]:
        nonlocal offset
        for raw in read_lines(path, "", SCRIPT_MAX, "the 1 GiB hcdbg reads a call script into",
                              regular=False, error=ScriptError):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ScriptError(f"{path}: not UTF-8 text (byte {offset + exc.start})") from None
            offset += len(raw)

    return parse_lines(text(), path)
