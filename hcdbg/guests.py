"""The bundled teaching guests: names, one-line descriptions, their default settings."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: Where the bundled guests are (sources and built ELFs). In a checkout, hcdbg/guest-files is
#: a symlink to the repository's guests/, resolved so that paths name guests/ as before; a
#: wheel holds a copy of them there (package data, see pyproject.toml).
GUESTS_DIR = (Path(__file__).parent / "guest-files").resolve()

DEFAULT_GUEST = "psci-tour"


@dataclass(frozen=True)
class BundledGuest:
    """A guest shipped with hcdbg (source and built ELF in GUESTS_DIR)."""

    name: str
    description: str
    smp: int
    path: Path


def file_exists(name: str) -> bool:
    """Whether `name` names an existing file: False, not an error, for a name no file can
    have (a component over NAME_MAX characters, a NUL byte)."""
    try:
        return Path(name).exists()
    except (OSError, ValueError):
        return False


def bundled() -> list[BundledGuest]:
    """Every bundled guest, as GUESTS_DIR/guests.json lists them."""
    index = GUESTS_DIR / "guests.json"
    if not index.exists():
        return []
    entries = json.loads(index.read_text())
    return [BundledGuest(e["name"], e["description"], int(e.get("smp", 1)),
                         GUESTS_DIR / f"{e['name']}.elf") for e in entries]


def find(name: str) -> BundledGuest | None:
    """The bundled guest called `name` (with or without .elf), or None."""
    name = name.removesuffix(".elf")
    return next((g for g in bundled() if g.name == name), None)
