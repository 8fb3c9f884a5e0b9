"""A PL011 UART model: transmit to a sink, receive from a queue, honest flag register."""
from __future__ import annotations

from collections import deque
from typing import Callable

# PL011 TRM (ARM DDI 0183) §3.2 register offsets and UARTFR bits.
DR = 0x000
FR = 0x018
FR_RXFE = 1 << 4
FR_TXFE = 1 << 7
# PrimeCell peripheral/cell ID registers 0xFE0..0xFFC (Linux's amba bus reads them).
_PERIPH_ID = {0xFE0: 0x11, 0xFE4: 0x10, 0xFE8: 0x14, 0xFEC: 0x00,
              0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}


class Pl011:
    """Transmit goes to `sink` and `output`; `feed()` queues bytes the guest will receive."""

    def __init__(self, sink: Callable[[bytes], None] | None = None) -> None:
        self.sink = sink
        self.output = bytearray()
        self.rx: deque[int] = deque()
        self._regs: dict[int, int] = {}

    def feed(self, data: bytes) -> None:
        """Queue bytes for the guest to read from UARTDR."""
        self.rx.extend(data)

    def reset(self) -> None:
        """Forget register contents (output history and pending input are kept)."""
        self._regs.clear()

    def save_state(self) -> tuple[int, bytes, dict[int, int]]:
        """For a checkpoint: how much output there is (it only grows), the input not read
        yet, the registers."""
        return len(self.output), bytes(self.rx), dict(self._regs)

    def restore_state(self, state: tuple[int, bytes, dict[int, int]]) -> None:
        """Back to a `save_state()`: later output is forgotten, unread input is as it was."""
        length, rx, regs = state
        del self.output[length:]
        self.rx.clear()
        self.rx.extend(rx)
        self._regs = dict(regs)

    def read(self, offset: int) -> int:
        """A guest load from the UART's MMIO window."""
        if offset == DR:
            return self.rx.popleft() if self.rx else 0
        if offset == FR:
            # Transmit is instantaneous: the FIFO is always empty, never full (TXFF clear).
            return FR_TXFE | (0 if self.rx else FR_RXFE)
        if offset in _PERIPH_ID:
            return _PERIPH_ID[offset]
        return self._regs.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        """A guest store to the UART's MMIO window."""
        if offset == DR:
            byte = bytes((value & 0xFF,))
            self.output += byte
            if self.sink is not None:
                self.sink(byte)
            return
        self._regs[offset] = value
