"""The PL011 model's interrupt registers, without Unicorn. Expected behaviour from the PL011 TRM
(Arm DDI 0183G, §3.3 registers) and QEMU 7.2's hw/char/pl011.c, the reference hcdbg mirrors."""
from __future__ import annotations

import threading

from hcdbg.machine import uart as U
from hcdbg.machine.uart import Pl011

RXIM, TXIM, RTIM = U.INT_RX, U.INT_TX, U.INT_RT


def _uart() -> tuple[Pl011, list[bool]]:
    u = Pl011()
    levels: list[bool] = []
    u.irq = levels.append
    return u, levels


def test_reset_values_are_the_trms() -> None:
    # §3.2 Table 3-1 (and QEMU pl011_reset): UARTCR 0x300 (TXE, RXE), UARTIFLS 0x12, no
    # interrupt raised or enabled.
    u = Pl011()
    assert [u.read(r) for r in (U.CR, U.IFLS, U.IMSC, U.RIS, U.MIS)] == [0x300, 0x12, 0, 0, 0]
    assert u.level is False


def test_a_received_byte_raises_rx_when_rxim_is_set() -> None:
    # QEMU pl011_put_fifo: INT_RX at read_trigger (1 byte); pl011_update: level = RIS & IMSC.
    u, levels = _uart()
    u.write(U.IMSC, RXIM)
    u.feed(b"ab")
    assert u.read(U.RIS) & RXIM and u.read(U.MIS) == RXIM
    assert levels == [True]


def test_the_rx_interrupt_drops_when_reads_empty_the_fifo() -> None:
    # QEMU pl011_read (UARTDR): INT_RX cleared once read_count falls below the trigger (to 0);
    # TRM §3.3.11: RTRIS is cleared when the FIFO becomes empty.
    u, levels = _uart()
    u.write(U.IMSC, RXIM | RTIM)
    u.feed(b"ab")
    assert u.read(U.DR) == ord("a")
    assert levels == [True] and u.read(U.RIS) & (RXIM | RTIM) == RXIM | RTIM
    assert u.read(U.DR) == ord("b")
    assert levels == [True, False]
    assert u.read(U.RIS) & (RXIM | RTIM) == 0 and u.read(U.FR) & U.FR_RXFE


def test_receive_timeout_is_raised_with_rx_for_a_driver_that_waits_on_it() -> None:
    # Linux enables RTIM as well as RXIM (amba-pl011 pl011_startup); RTIM alone must do.
    u, levels = _uart()
    u.write(U.IMSC, RTIM)
    u.feed(b"x")
    assert u.read(U.MIS) == RTIM and levels == [True]


def test_icr_clears_the_raw_status_even_with_data_waiting() -> None:
    # TRM §3.3.13: writing 1 clears the bit; QEMU pl011_write UARTICR: int_level &= ~value.
    u, levels = _uart()
    u.write(U.IMSC, RXIM | RTIM)
    u.feed(b"xy")
    u.write(U.ICR, RXIM | RTIM)
    assert u.read(U.RIS) == 0 and u.read(U.MIS) == 0 and levels == [True, False]
    assert not u.read(U.FR) & U.FR_RXFE  # the data is still there to read
    u.feed(b"z")  # the next byte raises it again
    assert levels == [True, False, True]


def test_mis_is_ris_and_imsc() -> None:
    # TRM §3.3.12; QEMU pl011_read UARTMIS: int_level & int_enabled.
    u, _ = _uart()
    u.feed(b"x")
    u.write(U.DR, ord("o"))
    for mask in (0, RXIM, TXIM, RTIM, RXIM | TXIM, 0x7FF):
        u.write(U.IMSC, mask)
        assert u.read(U.MIS) == u.read(U.RIS) & mask
        assert u.level == bool(u.read(U.RIS) & mask)


def test_imsc_keeps_only_its_eleven_bits_and_status_registers_ignore_writes() -> None:
    # TRM §3.3.10: bits [15:11] reserved; UARTRIS/UARTMIS/UARTFR are read-only; ICR reads 0.
    u, levels = _uart()
    u.write(U.IMSC, 0xFFFF_FFFF)
    assert u.read(U.IMSC) == 0x7FF
    for reg in (U.RIS, U.MIS, U.FR):
        u.write(reg, 0x7FF)
    assert u.read(U.RIS) == 0 and u.read(U.ICR) == 0 and levels == []


def test_tx_is_raised_by_each_write_and_cleared_by_icr_as_in_qemu() -> None:
    # QEMU pl011_write UARTDR: int_level |= INT_TX after every byte; pl011_reset: int_level 0.
    u, levels = _uart()
    assert not u.read(U.RIS) & TXIM  # nothing raised before the first byte
    u.write(U.DR, ord("a"))
    assert u.read(U.RIS) & TXIM and levels == []  # masked: no line change
    u.write(U.IMSC, TXIM)  # Linux pl011_start_tx_pio: write first, then unmask TXIM
    assert levels == [True]
    u.write(U.ICR, TXIM)
    assert not u.read(U.RIS) & TXIM and levels == [True, False]
    u.write(U.IMSC, TXIM)  # stays clear until the next byte (no transition without one)
    assert levels == [True, False]
    u.write(U.DR, ord("b"))
    assert levels == [True, False, True]
    u.write(U.IMSC, 0)  # pl011_stop_tx masks TXIM; the raw bit stays
    assert levels == [True, False, True, False] and u.read(U.RIS) & TXIM
    assert bytes(u.output) == b"ab"


def test_the_callback_hears_only_level_changes() -> None:
    u, levels = _uart()
    u.write(U.IMSC, RXIM | TXIM)
    u.feed(b"a")
    u.feed(b"b")  # already high
    u.write(U.DR, ord("x"))  # already high
    u.write(U.IMSC, RXIM | TXIM | RTIM)  # still high
    u.write(U.ICR, 0x7FF)
    u.write(U.ICR, 0x7FF)  # already low
    u.read(U.DR)
    u.read(U.DR)  # empties the queue: already low
    assert levels == [True, False]


def test_fen_is_stored_and_does_not_drop_waiting_input() -> None:
    # Deliberately unlike QEMU (which empties its RX FIFO on an FEN change): hcdbg's queue also
    # holds input QEMU's chardev would still be holding back.
    u, levels = _uart()
    u.write(U.IMSC, RXIM)
    u.feed(b"hi")
    u.write(U.LCR_H, U.LCR_H_FEN | 0x60)
    assert u.read(U.LCR_H) == 0x70 and bytes(u.rx) == b"hi" and levels == [True]


def test_reset_drops_the_line_and_keeps_the_input() -> None:
    u, levels = _uart()
    u.write(U.IMSC, RXIM)
    u.feed(b"k")
    u.reset()
    assert levels == [True, False] and bytes(u.rx) == b"k" and u.read(U.IMSC) == 0


def test_save_and_restore_bring_back_the_interrupt_state() -> None:
    u, levels = _uart()
    u.write(U.IMSC, RXIM | TXIM)
    u.write(U.IFLS, 0x24)
    u.write(U.LCR_H, 0x70)
    u.write(U.DR, ord("a"))
    u.feed(b"in")
    saved = u.save_state()
    regs = {r: u.read(r) for r in (U.IMSC, U.RIS, U.MIS, U.IFLS, U.LCR_H, U.CR)}
    u.read(U.DR)
    u.read(U.DR)
    u.write(U.ICR, 0x7FF)
    u.write(U.IMSC, 0)
    u.write(U.DR, ord("b"))
    assert levels == [True, False]
    u.restore_state(saved)
    assert {r: u.read(r) for r in regs} == regs and bytes(u.rx) == b"in" and bytes(u.output) == b"a"
    assert levels == [True, False, True]  # the line follows the restored registers


def test_feed_from_another_thread_calls_back_there_and_levels_stay_in_order() -> None:
    u = Pl011()
    seen: list[tuple[bool, int]] = []
    u.irq = lambda level: seen.append((level, threading.get_ident()))
    u.write(U.IMSC, RXIM)
    feeder = threading.Thread(target=lambda: [u.feed(b"z") for _ in range(2000)])
    feeder.start()
    got = 0
    while feeder.is_alive() or u.rx:
        if not u.read(U.FR) & U.FR_RXFE:
            u.read(U.DR)
            got += 1
    feeder.join()
    assert got == 2000
    levels = [lv for lv, _ in seen]
    assert levels[0] is True and levels[-1] is False
    assert all(a != b for a, b in zip(levels, levels[1:]))  # changes only, in order
    assert feeder.ident in {t for _, t in seen}
