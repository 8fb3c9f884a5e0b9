"""Running fuzzed command lines in a memory-limited, timed worker subprocess
(tests/fuzz_worker.py), and the oracle the input fuzz tests hold every case to."""
from __future__ import annotations

import json
import os
import resource
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Address space a worker may use: a run with the default 128 MiB of RAM needs ~600 MiB.
MEMORY_LIMIT = 2 << 30
#: Seconds one case may take (each runs at most --max-insns instructions).
TIME_LIMIT = 30
#: Examples per fuzz test: small in the normal run, more with HCDBG_FUZZ_EXAMPLES=N.
EXAMPLES = int(os.environ.get("HCDBG_FUZZ_EXAMPLES", "0") or 0)


def examples(default: int) -> int:
    return EXAMPLES or default


@dataclass(frozen=True)
class Outcome:
    """How one command line ended: an exit status, or a signal or a timeout."""

    exit: int | None
    err: str
    died: str = ""

    def acceptable(self) -> bool:
        """No internal error (3), no signal, no hang, no traceback."""
        return not self.died and self.exit in (0, 1, 2, 130) and "Traceback" not in self.err


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


class Worker:
    """One fuzz_worker.py process, restarted after a case kills it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.cases = 0

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        return subprocess.Popen([sys.executable, str(ROOT / "tests" / "fuzz_worker.py")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env, cwd=ROOT, preexec_fn=_limit)

    def run(self, *argv: str) -> Outcome:
        """`hcdbg ARGV...` in the worker."""
        self.cases += 1
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(list(argv)) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([proc.stdout], [], [], TIME_LIMIT)
        line = proc.stdout.readline() if ready else ""
        if line:
            reply = json.loads(line)
            return Outcome(reply["exit"], reply["err"])
        if not ready:
            proc.kill()
            proc.wait()
            self.proc = None
            return Outcome(None, "", f"no answer in {TIME_LIMIT} s")
        status = proc.wait()
        self.proc = None
        return Outcome(None, "", f"worker died with status {status}")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
