"""Decoding frames on a thread of their own, a few ahead of a playing cine.

The GUI asks for a frame; the newest request wins (stale ones are skipped), and while idle
the decoder fills a small cache with the frames that come next.
"""

import threading
from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from desktop.core.display import Window
from desktop.core.errors import CourierError
from desktop.core.frames import FrameSource

CACHE_SIZE = 12


class FrameDecoder(QObject):
    """Turns requests for frame i into ``frame_ready(i, uint8 array)`` signals."""

    frame_ready = Signal(int, object)
    failed = Signal(str)

    def __init__(self, ahead: int = 4) -> None:
        super().__init__()
        self.ahead = ahead
        self._condition = threading.Condition()
        self._source: FrameSource | None = None
        self._window: Window | None = None
        self._wanted: int | None = None
        self._position: int | None = None  # the last frame asked for
        self._cache: OrderedDict[int, NDArray[np.uint8]] = OrderedDict()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="frame-decoder")
        self._thread.start()

    def set_source(self, source: FrameSource | None, window: Window | None) -> None:
        with self._condition:
            self._source, self._window, self._wanted = source, window, None
            self._position = None
            self._cache.clear()

    def set_window(self, window: Window | None) -> None:
        with self._condition:
            self._window = window
            self._cache.clear()

    def request(self, index: int) -> None:
        with self._condition:
            self._wanted = self._position = index
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and self._wanted is None and not self._prefetch_due():
                    self._condition.wait(0.5)
                if self._closed:
                    return
                source, window = self._source, self._window
                wanted, deliver = self._wanted, self._wanted is not None
                index = wanted if wanted is not None else self._next_missing()
                self._wanted = None
            if source is None or index is None:
                continue
            frame = self._decode(source, window, index)
            if frame is not None and deliver:
                self.frame_ready.emit(index, frame)

    def _decode(
        self, source: FrameSource, window: Window | None, index: int
    ) -> NDArray[np.uint8] | None:
        with self._condition:
            cached = self._cache.get(index)
        if cached is not None:
            return cached
        try:
            frame = source.display(index, window)
        except CourierError as error:
            self.failed.emit(str(error))
            return None
        with self._condition:
            if source is self._source and window == self._window:
                self._cache[index] = frame
                self._cache.move_to_end(index)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return frame

    def _prefetch_due(self) -> bool:
        return self._next_missing() is not None

    def _next_missing(self) -> int | None:
        """The first of the next ``ahead`` frames after the one asked for that is not cached."""
        source, position = self._source, self._position
        if source is None or position is None or source.frame_count < 2:
            return None
        ahead = (
            (position + step) % source.frame_count
            for step in range(1, min(self.ahead, source.frame_count - 1) + 1)
        )
        return next((i for i in ahead if i not in self._cache), None)
