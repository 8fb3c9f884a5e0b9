"""Replaying a recording (`--record FILE`) against a guest: the CI use of hcdbg.

A recording lists every call a run answered, in order, with who answered it. Replaying it
gives each vCPU's calls, in order, the answers a person (or a rule) gave in the recorded
run; calls the built-ins answered are answered by the built-ins again, so their effects
(CPU_ON starting a vCPU, SYSTEM_OFF) happen for real. A call that is not the one recorded
next for its vCPU (another function ID, conduit or immediate) is a divergence.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from hcdbg.errors import HcdbgError, UsageError
from hcdbg.machine.machine import Trap


class ReplayDiverged(HcdbgError):
    """The guest made a call other than the one the recording has next."""


@dataclass(frozen=True)
class Expected:
    """One recorded call: what must come, and how it was answered."""

    line: int
    fid: int
    conduit: str
    imm: int
    source: str  # handle, deny, reply, rule N
    answer: dict[int, int]

    def describe(self) -> str:
        return f"{self.fid:#010x} via {self.conduit}#{self.imm} (line {self.line}, answered by {self.source})"


class Replay:
    """Per-vCPU queues of recorded calls."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.queues: dict[int, deque[Expected]] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"--replay {path}: cannot read: {exc.strerror}") from None
        for n, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
                exp = Expected(n, int(rec["fid"], 16), rec["conduit"], int(rec["imm"]), rec["source"],
                               {int(k[1:]): int(v, 16) for k, v in rec["answer"].items()})
                vcpu = int(rec["vcpu"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UsageError(f"--replay {path}:{n}: not a hcdbg call record ({exc})") from None
            self.queues.setdefault(vcpu, deque()).append(exp)

    def take(self, trap: Trap) -> Expected | None:
        """The recorded call `trap` must be; None once this vCPU's recording is used up."""
        queue = self.queues.get(trap.vcpu)
        if not queue:
            return None
        exp = queue[0]
        fid = trap.regs[0] & 0xFFFF_FFFF
        if (fid, trap.conduit, trap.imm) != (exp.fid, exp.conduit, exp.imm):
            raise ReplayDiverged(
                f"replay diverged on vCPU {trap.vcpu} at pc {trap.pc:#x}: the guest called "
                f"{fid:#010x} via {trap.conduit}#{trap.imm}, the recording has {exp.describe()}")
        queue.popleft()
        return exp

    def remaining(self) -> int:
        """Recorded calls the guest has not made (yet)."""
        return sum(len(q) for q in self.queues.values())
