"""hcdbg: stop on every HVC/SMC an AArch64 guest makes, decode it as SMCCC, answer it."""
from __future__ import annotations

__version__ = "0.1.0"
