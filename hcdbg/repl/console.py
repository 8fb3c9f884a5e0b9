"""Where the REPL's output goes: styled fragments in colour or plain, plus the guest's UART.

The guest's UART bytes arrive on the run's worker thread; they are written as they come
(the prompt is not shown while the guest runs, so nothing needs patching) and a partial
last line is ended before hcdbg prints anything of its own.
"""
from __future__ import annotations

import threading
from typing import TextIO

from hcdbg.render.style import STYLE, Fragments, plain


class Console:
    """Output for one REPL: `write` fragments, `error` lines, `uart` guest bytes. With an
    `errors` stream (--batch: stderr, as gdb's batch mode) error lines go there, apart from
    the output."""

    def __init__(self, stream: TextIO, color: bool, errors: TextIO | None = None) -> None:
        self.stream = stream
        self.errors = errors
        self.color = color
        self._lock = threading.Lock()
        self._uart_open = False  # the guest's last UART byte was not a newline
        self._style = None
        self._output = None
        if color:
            from prompt_toolkit.output import create_output
            from prompt_toolkit.styles import Style

            self._style = Style.from_dict({k: v for k, v in STYLE.items() if v})
            self._output = create_output(stdout=stream)

    def write(self, fragments: Fragments) -> None:
        """Print styled text (its own newlines included)."""
        with self._lock:
            self._end_uart_line()
            if self.color:
                from prompt_toolkit import print_formatted_text
                from prompt_toolkit.formatted_text import FormattedText

                print_formatted_text(FormattedText(fragments), style=self._style, end="",
                                     output=self._output)
            else:
                self.stream.write(plain(fragments))
            self.stream.flush()

    def error(self, text: str, detail: str = "") -> None:
        """An error line, and a plain `detail` line under it (a usage) if any."""
        fragments = [("class:error", text + "\n")] + ([("", detail + "\n")] if detail else [])
        if self.errors is None:
            self.write(fragments)
            return
        with self._lock:
            self._end_uart_line()
            self.stream.flush()  # what came before the error is seen before it
            self.errors.write(plain(fragments))
            self.errors.flush()

    def text(self, text: str, style: str = "") -> None:
        """Print one line of text."""
        self.write([(style, text + "\n")])

    def uart(self, data: bytes) -> None:
        """The guest wrote to its UART (called on the run's thread)."""
        if not data:
            return
        with self._lock:
            self.stream.write(data.decode("utf-8", errors="replace").replace("\r", ""))
            self._uart_open = not data.endswith(b"\n")
            if not self._uart_open:
                self.stream.flush()

    def flush(self) -> None:
        """End a partial UART line and flush."""
        with self._lock:
            self._end_uart_line()
            self.stream.flush()

    def _end_uart_line(self) -> None:
        if self._uart_open:
            self.stream.write("\n")
            self._uart_open = False
