"""The user's numbered breakpoints: hit counts, temporary ones, one machine exit per address.

As in CPython's bdb, the engine keeps the breakpoints (numbered from 1, never reused, gdb's
rule) and counts their hits; the front end only adds, deletes and lists them. The machine
knows addresses only: an address has an exit while at least one breakpoint is on it.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hcdbg.errors import UsageError
from hcdbg.machine.machine import Machine


@dataclass
class Breakpoint:
    """One user breakpoint. `location` is how the user named the address (main+8)."""

    number: int
    address: int
    location: str = ""
    temporary: bool = False  # deleted by its first hit (tbreak)
    hits: int = 0


class Breakpoints:
    """The breakpoints of one session, in number order."""

    def __init__(self, machine: Machine) -> None:
        self._machine = machine
        self._by_number: dict[int, Breakpoint] = {}
        self._next = 1
        #: Addresses another client (the gdb stub) holds breakpoints on: deleting the
        #: last of ours there keeps the machine's exit.
        self.others: set[int] = set()

    def __iter__(self) -> Iterator[Breakpoint]:
        return iter(list(self._by_number.values()))

    def __len__(self) -> int:
        return len(self._by_number)

    def __contains__(self, number: object) -> bool:
        return number in self._by_number

    def add(self, address: int, temporary: bool = False, location: str = "") -> Breakpoint:
        """A new breakpoint at `address`, an instruction the guest can fetch (UsageError,
        nothing changed, if it is unaligned or unmapped)."""
        if address % 4:
            raise UsageError(f"{address:#x} is not a 4-byte aligned instruction address")
        self._machine.read_memory(address, 4)
        bp = Breakpoint(self._next, address, location, temporary)
        self._next += 1
        self._by_number[bp.number] = bp
        self._machine.add_breakpoint(address)
        return bp

    def delete(self, number: int) -> Breakpoint:
        """Delete breakpoint `number` (UsageError if there is none); its address stops the
        guest no more unless another breakpoint is on it."""
        bp = self._by_number.pop(number, None)
        if bp is None:
            raise UsageError(f"no breakpoint number {number}")
        if not self.at(bp.address) and bp.address not in self.others:
            self._machine.remove_breakpoint(bp.address)
        return bp

    def clear(self) -> None:
        """Delete every breakpoint (numbering goes on, as in gdb)."""
        for number in list(self._by_number):
            self.delete(number)

    def at(self, address: int) -> list[Breakpoint]:
        """The breakpoints on `address`, by number."""
        return [b for b in self._by_number.values() if b.address == address]

    def hit(self, address: int) -> tuple[Breakpoint, ...]:
        """The guest stopped at `address`: count a hit on each breakpoint there and delete
        the temporary ones. Returns those breakpoints (none: an address only the engine
        stops at, as nexti's step over a call)."""
        hits = tuple(self.at(address))
        for bp in hits:
            bp.hits += 1
            if bp.temporary:
                self.delete(bp.number)
        return hits
