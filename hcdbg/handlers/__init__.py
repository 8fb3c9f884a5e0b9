"""Built-in firmware handlers (pure): answer SMCCC calls as KVM, QEMU TCG or TF-A would."""
from __future__ import annotations

from hcdbg.handlers.config import FirmwareConfig
from hcdbg.handlers.registry import Firmware, Provided

__all__ = ["Firmware", "FirmwareConfig", "Provided"]
