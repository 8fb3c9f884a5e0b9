"""INTIDs as users type and read them: the board's well-known ones, and 'catch irq' words."""
from __future__ import annotations

from hcdbg.errors import UsageError
from hcdbg.machine import board
from hcdbg.machine.timer import PPI_PHYS, PPI_VIRT
from hcdbg.render.interrupts import SPI_LAST, intid_list
from hcdbg.values import parse_number

#: The board's well-known INTIDs: the timers' PPIs and the PL011's SPI as the device tree
#: gives them ("arm,armv8-timer" interrupts, the UART's "interrupts" = SPI 1).
KNOWN = {
    PPI_VIRT: "virtual timer",
    PPI_PHYS: "physical timer",
    32 + board.UART_SPI: "PL011 UART",
}


def parse(words: list[str], num_irqs: int) -> frozenset[int]:
    """INTIDs from words: numbers or FIRST-LAST runs (0-15), all or none; UsageError names
    the first bad word."""
    ids: set[int] = set()
    for word in words:
        first, dash, last = word.partition("-")
        lo = parse_number(first)
        hi = parse_number(last) if dash else lo
        if lo is None or hi is None or lo > hi:
            raise UsageError(f"bad INTID {word!r}: expected a number (27) or a run (0-15)")
        if hi > SPI_LAST:
            raise UsageError(f"bad INTID {word!r}: 1020-1023 are special IDs, not interrupts, "
                             f"and INTIDs end there (IHI 0048B §2.2.1)")
        if hi >= num_irqs:
            raise UsageError(f"bad INTID {word!r}: this GIC has INTIDs 0-{num_irqs - 1} "
                             f"(GICD_TYPER.ITLinesNumber)")
        ids.update(range(lo, hi + 1))
    return frozenset(ids)


def catch_text(intids: frozenset[int]) -> str:
    """What an IRQ catchpoint stops at: 'any IRQ', 'IRQ PPI 27 (virtual timer)', 'IRQs SGI
    0-15, PPI 27 (virtual timer)'."""
    if not intids:
        return "any IRQ"
    return ("IRQ " if len(intids) == 1 else "IRQs ") + intid_list(intids, KNOWN)
