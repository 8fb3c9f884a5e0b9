"""Shared fixtures: where the guests are, and how to run hcdbg as a user does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "guests"


def run_hcdbg(*args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    """`python -m hcdbg ARGS...` in a subprocess, output captured as text."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "hcdbg", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, input=input)


@pytest.fixture
def hcdbg():
    return run_hcdbg


def guest(name: str) -> Path:
    path = GUESTS / f"{name}.elf"
    if not path.exists():
        pytest.fail(f"bundled guest {path} is missing (scripts/build-guests builds it)")
    return path
