"""A PL011 UART model: transmit to a sink, receive from a queue, honest flag register, and the
interrupt registers with one combined interrupt line (UARTINTR).

Spec: Arm DDI 0183G, "PrimeCell UART (PL011) Technical Reference Manual" r1p5: §3.2 the
register map, §3.3 the registers, chapter 2 "Interrupts" what sets and clears them. Where
the TRM leaves room, the model does what QEMU 7.2 does (hw/char/pl011.c), the board hcdbg
mirrors.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable

# DDI 0183G §3.2 Table 3-1 register offsets.
DR = 0x000
FR = 0x018
LCR_H = 0x02C
CR = 0x030
IFLS = 0x034
IMSC = 0x038
RIS = 0x03C
MIS = 0x040
ICR = 0x044
# UARTFR bits (§3.3.3).
FR_RXFE = 1 << 4
FR_TXFE = 1 << 7
# UARTLCR_H.FEN (§3.3.7): the FIFOs are on. Stored only: the interrupts below behave the same
# either way (see RXIS), and the receive queue is never flushed by it (see Pl011.write).
LCR_H_FEN = 1 << 4
# Interrupt bits shared by UARTIMSC, UARTRIS, UARTMIS and UARTICR (§3.3.10-§3.3.13).
INT_RX = 1 << 4  # RXIS: receive
INT_TX = 1 << 5  # TXIS: transmit
INT_RT = 1 << 6  # RTIS: receive timeout
_INT_ALL = 0x7FF  # bits [10:0]; [15:11] are reserved, read as zero
# Reset values (§3.2 Table 3-1; QEMU's pl011_reset agrees): UARTCR has TXE and RXE set,
# UARTIFLS selects the half-full trigger for both FIFOs.
_RESET = {CR: 0x0300, IFLS: 0x12, IMSC: 0, RIS: 0}
# PrimeCell peripheral/cell ID registers 0xFE0..0xFFC (Linux's amba bus reads them).
_PERIPH_ID = {0xFE0: 0x11, 0xFE4: 0x10, 0xFE8: 0x14, 0xFEC: 0x00,
              0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}


class Pl011:
    """Transmit goes to `sink` and `output`; `feed()` queues bytes the guest will receive.

    Interrupts (TRM chapter 2, "Interrupts"): UARTRIS holds the raw status, UARTIMSC the
    enables, and the combined line is `(RIS & IMSC) != 0`. When that level changes, `irq`
    (set by the machine) is called with the new level. `feed()` may run on another thread
    than the guest's, and then so does `irq`: the machine's callback must be thread-safe.
    Calls are made under the UART's lock, so the levels arrive in the order they happened;
    the callback may read the UART again on the same thread (the lock is re-entrant), but
    must not wait for another thread that does. A callback attached while the line is
    already high starts from `level`.

    What sets and clears each raw status bit:
      RXIS, RTIS  set by every `feed()` of at least one byte; cleared when a read of UARTDR
                  leaves the receive queue empty, or by UARTICR. QEMU triggers RXIS at one
                  byte whatever UARTIFLS says (its pl011_set_read_trigger: Linux reads the FIFO
                  only from the interrupt); the TRM's RTIS (data waiting and no more for
                  32 bit periods) is what a real PL011 would show next, since here no time
                  passes on the line. Linux enables both (pl011_startup: RTIM | RXIM).
      TXIS        set by every write of UARTDR, cleared by UARTICR, as QEMU's pl011_write.
                  Transmit is instantaneous, so each byte written drains through the trigger
                  level at once: the TRM raises TXIS on such a transition, not on the
                  level itself. It is not set out of reset (no transition yet): Linux's
                  driver writes its first bytes before it unmasks TXIM (pl011_start_tx_pio),
                  and the interrupt then keeps it going.
    """

    def __init__(self, sink: Callable[[bytes], None] | None = None) -> None:
        self.sink = sink
        self.irq: Callable[[bool], None] | None = None
        self.output = bytearray()
        self.rx: deque[int] = deque()
        self._regs: dict[int, int] = dict(_RESET)
        self._level = False
        self._lock = threading.RLock()

    @property
    def level(self) -> bool:
        """The interrupt line now: what a callback attached late should start from."""
        return self._level

    def feed(self, data: bytes) -> None:
        """Queue bytes for the guest to read from UARTDR (any thread)."""
        with self._lock:
            self.rx.extend(data)
            if data:
                self._regs[RIS] |= INT_RX | INT_RT
                self._update()

    def reset(self) -> None:
        """Registers back to their reset values (output history and pending input are kept)."""
        with self._lock:
            self._regs = dict(_RESET)
            self._update()

    def save_state(self) -> tuple[int, bytes, dict[int, int]]:
        """For a checkpoint: how much output there is (it only grows), the input not read
        yet, the registers (the interrupt status and mask among them)."""
        with self._lock:
            return len(self.output), bytes(self.rx), dict(self._regs)

    def restore_state(self, state: tuple[int, bytes, dict[int, int]]) -> None:
        """Back to a `save_state()`: later output is forgotten, unread input and the registers
        are as they were, and `irq` hears of it if that changes the line."""
        length, rx, regs = state
        with self._lock:
            del self.output[length:]
            self.rx.clear()
            self.rx.extend(rx)
            self._regs = dict(_RESET) | regs
            self._update()

    def read(self, offset: int) -> int:
        """A guest load from the UART's MMIO window."""
        if offset == DR:
            with self._lock:
                if not self.rx:
                    return 0
                byte = self.rx.popleft()
                if not self.rx:
                    self._regs[RIS] &= ~(INT_RX | INT_RT)
                    self._update()
                return byte
        if offset == FR:
            # Transmit is instantaneous: the FIFO is always empty, never full (TXFF clear).
            return FR_TXFE | (0 if self.rx else FR_RXFE)
        if offset == MIS:
            return self._regs[RIS] & self._regs[IMSC]
        if offset == ICR:
            return 0  # write-only (§3.3.13)
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
            with self._lock:
                self._regs[RIS] |= INT_TX
                self._update()
            return
        if offset in (FR, RIS, MIS):
            return  # read-only (§3.3.3, §3.3.11, §3.3.12)
        if offset in (IMSC, ICR):
            with self._lock:
                if offset == IMSC:
                    self._regs[IMSC] = value & _INT_ALL
                else:
                    self._regs[RIS] &= ~value
                self._update()
            return
        # UARTLCR_H: QEMU empties its receive FIFO when FEN changes, but hcdbg's queue also
        # holds what QEMU's character backend would still be holding back (QEMU takes at
        # most a FIFO's worth), so emptying it would lose typed input QEMU keeps.
        self._regs[offset] = value

    def _update(self) -> None:
        """Recompute the combined line (UARTINTR, the OR of the masked sources) and report a
        change; the lock is held."""
        level = bool(self._regs[RIS] & self._regs[IMSC])
        if level != self._level:
            self._level = level
            if self.irq is not None:
                self.irq(level)
