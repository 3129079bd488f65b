"""Decoding the images of a stack on a thread of their own, ahead of and behind the one shown.

The GUI asks for image i; the newest request wins (stale ones are skipped), and while idle the
decoder fills a cache with the images that come next in the direction of scrolling (and a few
behind), so scrolling and cine playback show cached images.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.core.errors import CourierError

if TYPE_CHECKING:  # numpy and pydicom (~0.7 s to import) are not needed to show the window
    from desktop.core.display import Rendered, Window
    from desktop.core.stack import Stack

log = logging.getLogger(__name__)

CACHE_SIZE = 48


class FrameDecoder(QObject):
    """Turns requests for image i into ``frame_ready(i, Rendered)`` signals."""

    frame_ready = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, *, ahead: int = 8, behind: int = 3) -> None:
        super().__init__()
        self.ahead, self.behind = ahead, behind
        self._condition = threading.Condition()
        self._stack: Stack | None = None
        self._window: Window | None = None
        self._wanted: int | None = None
        self._position: int | None = None  # the last image asked for
        self._direction = 1
        self._cache: OrderedDict[int, Rendered] = OrderedDict()
        self._broken: set[int] = set()  # images that failed: not prefetched again
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="frame-decoder")
        self._thread.start()

    def set_stack(self, stack: Stack | None, window: Window | None) -> None:
        with self._condition:
            self._stack, self._window, self._wanted = stack, window, None
            self._position, self._direction = None, 1
            self._cache.clear()
            self._broken.clear()

    def set_window(self, window: Window | None) -> None:
        with self._condition:
            self._window = window
            self._cache.clear()

    def request(self, index: int) -> None:
        with self._condition:
            if self._position is not None and index != self._position:
                self._direction = 1 if index > self._position else -1
            self._wanted = self._position = index
            self._condition.notify()

    def cached(self) -> int:
        """How many decoded images wait in the cache (for tests and benchmarks)."""
        with self._condition:
            return len(self._cache)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and self._wanted is None and self._next_missing() is None:
                    self._condition.wait(0.5)
                if self._closed:
                    return
                stack, window = self._stack, self._window
                wanted, deliver = self._wanted, self._wanted is not None
                index = wanted if wanted is not None else self._next_missing()
                self._wanted = None
            if stack is None or index is None:
                continue
            rendered = self._render(stack, window, index, deliver)
            with self._condition:
                current = stack is self._stack and window == self._window
            if rendered is not None and deliver and current:
                self.frame_ready.emit(index, rendered)

    def _render(
        self, stack: Stack, window: Window | None, index: int, deliver: bool
    ) -> Rendered | None:
        with self._condition:
            cached = self._cache.get(index)
        if cached is not None:
            return cached
        try:
            rendered = stack.render(index, window)
        except Exception as error:
            if not isinstance(error, CourierError):  # a decoder bug: keep its traceback
                log.exception("decoding image %d failed", index)
            with self._condition:
                self._broken.add(index)
            if deliver:
                self.failed.emit(index, str(error))
            return None
        with self._condition:
            if stack is self._stack and window == self._window:
                self._cache[index] = rendered
                self._cache.move_to_end(index)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return rendered

    def _next_missing(self) -> int | None:
        """The nearest image ahead (in the direction of scrolling), then behind, not cached."""
        stack, position = self._stack, self._position
        if stack is None or position is None or len(stack) < 2:
            return None
        count, direction = len(stack), self._direction
        steps = [direction * s for s in range(1, self.ahead + 1)]
        steps += [-direction * s for s in range(1, self.behind + 1)]
        candidates = ((position + step) % count for step in steps if abs(step) < count)
        return next((i for i in candidates if i not in self._cache and i not in self._broken), None)
