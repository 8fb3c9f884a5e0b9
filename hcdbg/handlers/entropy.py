"""Entropy: the TRNG's byte stream, replayable from a seed and peekable for dry runs."""
from __future__ import annotations

import os
import random

#: Bytes drawn from the source at a time. Fixed, so a seeded stream is the same byte
#: sequence however the calls happen to split it (random.randbytes drops partial words).
CHUNK = 64


class Entropy:
    """A stream of random bytes: os.urandom, or random.Random(seed) for byte-exact replays.

    `peek` shows what the next `take` will return without consuming it, so a dry run
    answers exactly what the real call will."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed) if seed is not None else None
        self._buffer = bytearray()
        self.consumed = 0  # bytes handed out so far

    def reseed(self, seed: int) -> None:
        """From now on, the replayable stream of `seed` (bytes drawn but not handed out are
        dropped: they came from the old source)."""
        self._rng = random.Random(seed)
        self._buffer = bytearray()

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            self._buffer += self._rng.randbytes(CHUNK) if self._rng is not None else os.urandom(CHUNK)

    def peek(self, size: int) -> bytes:
        """The next `size` bytes, left in the stream."""
        self._fill(size)
        return bytes(self._buffer[:size])

    def take(self, size: int) -> bytes:
        """The next `size` bytes, consumed."""
        self._fill(size)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.consumed += size
        return out

    def save_state(self) -> tuple[object, bytes, int]:
        """For a checkpoint: the generator's state (seeded only), bytes drawn but not handed
        out, bytes handed out."""
        return (self._rng.getstate() if self._rng is not None else None, bytes(self._buffer),
                self.consumed)

    def restore_state(self, state: tuple[object, bytes, int]) -> None:
        """Back to a `save_state()`: a seeded stream hands out the same bytes again."""
        rng, buffered, self.consumed = state
        if self._rng is not None and rng is not None:
            self._rng.setstate(rng)  # type: ignore[arg-type]
        self._buffer = bytearray(buffered)

    def bits(self, count: int, *, consume: bool = True) -> int:
        """`count` random bits as an int below 2**count (0 bits draw nothing)."""
        if count <= 0:
            return 0
        size = (count + 7) // 8
        data = self.take(size) if consume else self.peek(size)
        return int.from_bytes(data, "little") & ((1 << count) - 1)
