"""Fuzzed input files and values (issue 14): call scripts, ELF / raw / arm64 Image headers and
device trees. Oracle: hcdbg ends with 0, 1 or 2 (never 3, an internal error), no signal, no
traceback, within the time and memory a worker subprocess is given (tests/fuzz_support.py).

A small budget in the normal run (the file takes well under a minute); for a long run set
HCDBG_FUZZ_EXAMPLES=N (examples per test), e.g.
    HCDBG_FUZZ_EXAMPLES=2000 python3 -m pytest -q tests/test_input_fuzz.py
"""
from __future__ import annotations

import gzip
import json
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import guest
from fuzz_support import Worker, examples
from hcdbg.cli.options import Options
from hcdbg.errors import UsageError
from hcdbg.machine.fdt import build_dtb
from hcdbg.session import callscript

SCRATCH = Path(tempfile.mkdtemp(prefix="hcdbg-input-fuzz-"))
HELLO = guest("hello").read_bytes()
MAX_INSNS = "20000"

#: Values that find edges: zero, ones, sign bits, sizes near RAM and the address space.
INTERESTING = [0, 1, 2, 4, 7, 8, 0x40, 0x1000, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
               0xFFFF_FFFF, 0x4000_0000, 0x4800_0000, 0x0800_0000, (1 << 63) - 1, 1 << 63,
               (1 << 64) - 1, (1 << 64) - 0x10, 1 << 40]


def _settings(default: int) -> settings:
    return settings(max_examples=examples(default), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _write(name: str, data: bytes) -> str:
    path = SCRATCH / name
    path.write_bytes(data)
    return str(path)


def _check(worker: Worker, *argv: str) -> None:
    outcome = worker.run(*argv)
    assert outcome.acceptable(), f"hcdbg {' '.join(argv)}: {outcome}"


def _patch(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """`data` with each (offset, width, value) written little- or big-endian as packed."""
    out = bytearray(data)
    for offset, width, value in edits:
        if offset + width <= len(out):
            out[offset:offset + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")
    return bytes(out)


values = st.one_of(st.sampled_from(INTERESTING), st.integers(0, (1 << 64) - 1))
flips = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)


def _flip(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for offset, byte in edits:
        if out:
            out[offset % len(out)] = byte
    return bytes(out)


# --- ELF headers -------------------------------------------------------------------------------

_PHOFF = struct.unpack_from("<Q", HELLO, 0x20)[0]
_PHNUM = struct.unpack_from("<H", HELLO, 0x38)[0]
#: (offset, width) of ELF64 header fields and of each program header's fields.
_ELF_FIELDS = [(0x04, 1), (0x05, 1), (0x10, 2), (0x12, 2), (0x18, 8), (0x20, 8), (0x28, 8),
               (0x34, 2), (0x36, 2), (0x38, 2), (0x3A, 2), (0x3C, 2), (0x3E, 2)] + [
    (_PHOFF + 56 * n + off, width) for n in range(_PHNUM)
    for off, width in ((0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8))]


@_settings(40)
@given(edits=st.lists(st.tuples(st.sampled_from(_ELF_FIELDS), values), min_size=1, max_size=4),
       more=flips, cut=st.one_of(st.none(), st.integers(0, len(HELLO))))
def test_fuzz_elf_headers(worker: Worker, edits, more, cut) -> None:
    data = _flip(_patch(HELLO, [(o, w, v) for (o, w), v in edits]), more)[:cut]
    _check(worker, "trace", _write("fuzz.elf", data), "--max-insns", MAX_INSNS)


# --- raw binaries and arm64 Images -------------------------------------------------------------

loads = st.one_of(st.none(), st.sampled_from(INTERESTING + [-4, -(1 << 63)]))


@_settings(25)
@given(body=st.binary(min_size=0, max_size=512), load=loads, entry=loads)
@example(body=b"\x00" * 4, load=None, entry=(1 << 64) - 1)  # was an internal error (pcalign: pc + 4 past 2**64)
def test_fuzz_raw_binaries(worker: Worker, body: bytes, load, entry) -> None:
    argv = ["trace", _write("fuzz.bin", body), "--max-insns", MAX_INSNS]
    argv += [] if load is None else [f"--load={load}"]
    argv += [] if entry is None else [f"--entry={entry}"]
    _check(worker, *argv)


@_settings(25)
@given(text_offset=values, image_size=values, code=st.binary(max_size=64), load=loads,
       gz=st.sampled_from(["no", "yes", "cut"]))
def test_fuzz_image_headers(worker: Worker, text_offset: int, image_size: int, code: bytes, load,
                            gz: str) -> None:
    header = struct.pack("<IIQQQQQQI4sI", 0x14000010, 0, text_offset, image_size, 0xA, 0, 0, 0, 0,
                         b"ARM\x64", 0)
    data = header + code
    if gz != "no":
        data = gzip.compress(data)
        data = data[: len(data) // 2] if gz == "cut" else data
    argv = ["trace", _write("fuzz.img", data), "--max-insns", MAX_INSNS, "--mem", "64M"]
    _check(worker, *argv + ([] if load is None else [f"--load={load}"]))


# --- device trees --------------------------------------------------------------------------

_DTB = build_dtb(ram_size=128 << 20, mpidrs=(0,), conduit="hvc", bootargs="console=ttyAMA0")
#: (offset, width) of the FDT header's fields; the header is big-endian.
_FDT_FIELDS = [(4 * n, 4) for n in range(10)]


def _patch_be(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for offset, value in edits:
        out[offset:offset + 4] = (value & 0xFFFF_FFFF).to_bytes(4, "big")
    return bytes(out)


@_settings(40)
@given(header=st.lists(st.tuples(st.sampled_from([o for o, _ in _FDT_FIELDS]), values), max_size=2),
       body=st.lists(st.tuples(st.integers(40, len(_DTB) - 4), values), max_size=4),
       more=flips, cut=st.one_of(st.none(), st.integers(0, len(_DTB))),
       append=st.one_of(st.none(), st.text(max_size=300)))
def test_fuzz_device_trees(worker: Worker, header, body, more, cut, append) -> None:
    data = _flip(_patch_be(_DTB, header + body), more)[:cut]
    argv = ["trace", "hello", "--dtb", _write("fuzz.dtb", data), "--max-insns", MAX_INSNS]
    _check(worker, *argv + ([] if append is None else [f"--append={append}"]))


# --- call scripts ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(INTERESTING + [-(1 << 70), 1 << 70])
    | st.text(max_size=20) | st.sampled_from(["0x84000000", "PSCI_VERSION", "SUCCESS", "x1", "rule 1",
                                              "deny", "built-in", "\ud800", "²", "-0x8000000000000001"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
_ENTRY_KEYS = sorted(callscript.ENTRY_KEYS) + ["x"]
_HEADER = {"guest": ["path", "name", "sha256"], "machine": ["smp", "mem", "conduit", "load", "entry", "quantum",
                                                            "catch", "append", "no_reboot", "input", "bios",
                                                            "initrd", "dtb"],
           "firmware": ["profile", "psci_version", "smccc_version", "seed"], "filter": ["x"]}
entries = st.dictionaries(st.sampled_from(_ENTRY_KEYS), json_values, max_size=5)
headers = st.fixed_dictionaries({"hcdbg": st.sampled_from([1, 1, 2, "1"])}, optional={
    section: st.dictionaries(st.sampled_from(keys), json_values, max_size=3) for section, keys in _HEADER.items()}
    | {"rules": json_values, "from_call": json_values})
lines = st.one_of(entries.map(json.dumps), st.text(max_size=40), st.just(""), st.just("# comment"),
                  st.builds(lambda n: "[" * n + "]" * n, st.integers(0, 3000)),
                  st.dictionaries(st.just("back"), json_values, min_size=1).map(json.dumps),
                  st.dictionaries(st.just("uart"), json_values, min_size=1).map(json.dumps))
scripts = st.builds(lambda head, body, end: "\n".join(([json.dumps(head)] if head else []) + body) + end,
                    st.one_of(st.none(), headers), st.lists(lines, max_size=8), st.sampled_from(["", "\n"]))


@_settings(300)
@given(text=scripts)
def test_fuzz_call_scripts_parse_or_say_why(text: str) -> None:
    """In-process (pure Python): only a UsageError (a ScriptError names file and line)."""
    try:
        script = callscript.parse_text(text, Path("fuzz.calls"))
        Options().with_header(script.header)
    except UsageError:
        pass


@_settings(25)
@given(text=scripts)
def test_fuzz_call_scripts_replayed(worker: Worker, text: str) -> None:
    path = _write("fuzz.calls", text.encode("utf-8", "surrogatepass"))
    _check(worker, "replay", path, "hello", "--max-insns", MAX_INSNS)
