"""Per-peer rate limiting of failure records, so a peer hammering the listener cannot flood
the history: a few records a minute per peer, then a count of what was left out."""

import threading
import time
from collections.abc import Callable

MAX_PEERS = 4096


class PeerLimiter:
    """At most ``per_window`` records per peer in each ``window`` seconds."""

    def __init__(
        self,
        per_window: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window, self.window, self.clock = per_window, window, clock
        self._peers: dict[str, tuple[float, int, int]] = {}  # start, allowed, suppressed
        self._lock = threading.Lock()

    def allow(self, peer: str) -> int | None:
        """None when this record must be dropped; otherwise how many were dropped before it."""
        now = self.clock()
        with self._lock:
            start, allowed, suppressed = self._peers.get(peer, (now, 0, 0))
            if now - start >= self.window:
                start, allowed = now, 0
            if allowed >= self.per_window:
                self._peers[peer] = (start, allowed, suppressed + 1)
                return None
            if len(self._peers) >= MAX_PEERS and peer not in self._peers:
                self._forget_old(now)
            self._peers[peer] = (start, allowed + 1, 0)
            return suppressed

    def _forget_old(self, now: float) -> None:
        for peer, (start, _, _) in list(self._peers.items()):
            if now - start >= self.window:
                del self._peers[peer]
        if len(self._peers) >= MAX_PEERS:
            self._peers.clear()
