"""What happened to each call: the history a run keeps and the recording it writes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hcdbg.machine.machine import Trap


@dataclass(frozen=True)
class CallRecord:
    """One call and its answer. `source` says who answered: handle, deny, rule N, reply."""

    seq: int
    trap: Trap
    source: str
    answer: dict[int, int]
    why: str
    effect: str | None = None

    @property
    def fid(self) -> int:
        return self.trap.regs[0] & 0xFFFF_FFFF

    def to_json(self) -> str:
        """One JSON line (all numbers as hex strings, so a reader needs no 64-bit care)."""
        return json.dumps({
            "seq": self.seq, "vcpu": self.trap.vcpu, "conduit": self.trap.conduit,
            "imm": self.trap.imm, "pc": f"{self.trap.pc:#x}", "fid": f"{self.fid:#010x}",
            "args": [f"{r:#x}" for r in self.trap.regs[1:8]], "source": self.source,
            "answer": {f"x{n}": f"{v:#x}" for n, v in sorted(self.answer.items())},
            "effect": self.effect,
        })


class Recorder:
    """Appends one JSON line per answered call and flushes it at once, so a crash or a kill
    loses at most the call in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, record: CallRecord) -> None:
        self._file.write(record.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
