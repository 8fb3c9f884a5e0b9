"""hcdbg: stop on every HVC/SMC an AArch64 guest makes, decode it as SMCCC, answer it."""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

#: Where the bundled teaching guests live (sources and built ELFs).
GUESTS_DIR = Path(__file__).resolve().parent.parent / "guests"
