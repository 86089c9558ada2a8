"""One engine, one lock, and a count of the text waiting for it.

The engine is not thread-safe, so checks take turns; ``/readyz`` reads ``queued_chars`` to say
the server is saturated before a load balancer piles more work on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class EngineGate:
    """The engine lock plus the characters of notes queued for (or inside) the engine."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._queued = 0

    @property
    def queued_chars(self) -> int:
        """Characters of note text accepted and not yet checked."""
        return self._queued

    def _add(self, chars: int) -> None:
        with self._count_lock:
            self._queued += chars

    @contextmanager
    def queued(self, chars: int) -> Iterator[Callable[[int], None]]:
        """Count ``chars`` as waiting until the block ends; ``done(n)`` releases ``n`` earlier."""
        left = [chars]
        self._add(chars)

        def done(n: int) -> None:
            n = min(n, left[0])
            left[0] -= n
            self._add(-n)

        try:
            yield done
        finally:
            self._add(-left[0])
