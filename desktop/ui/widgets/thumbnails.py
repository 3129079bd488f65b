"""The viewer's series strip: one thumbnail per series of the study on screen.

Thumbnails are decoded on a thread of their own (the middle image of each series, shrunk) and
kept for the session, so coming back to a study shows them at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from desktop.core.model import Series, frames_of

if TYPE_CHECKING:  # numpy and pydicom (~0.7 s to import) are not needed to show the window
    import numpy as np
    from numpy.typing import NDArray

    from desktop.core.stack import Stack

log = logging.getLogger(__name__)

SIZE = 96
SERIES_ROLE = Qt.ItemDataRole.UserRole + 1


def series_key(series: Series) -> str:
    """What a thumbnail is kept under: the series' UID (or the object, for a series without)."""
    return series.series_instance_uid or f"#{id(series)}"


def to_qimage(frame: NDArray[np.uint8]) -> QImage:
    """A QImage owning a copy of ``frame`` (grey or RGB), in the format the screen is drawn
    in: scaled onto the window, a grey image costs 1.6 ms a paint, 0.3 ms once converted
    (0.1 ms): a cine's frame budget at 240 frames/s is 4 ms."""
    import numpy as np

    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    if frame.ndim == 2:
        image = QImage(frame.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(frame.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.convertToFormat(QImage.Format.Format_RGB32)  # a copy: frame may go


class SeriesStrip(QListWidget):
    """Thumbnails of a study's series; clicking one emits ``series_chosen``."""

    series_chosen = Signal(object)  # Series
    _ready = Signal(str, object)  # series UID, QImage or None (from the loader thread)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.TopToBottom)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(SIZE, SIZE))
        self.setFixedWidth(SIZE + 36)
        self.setSpacing(4)
        self.setWordWrap(True)
        self.setStyleSheet("QListWidget { background: #1b1b1b; color: #e0e0e0; }")
        self.images: dict[str, QImage] = {}
        self._series: list[Series] = []
        self._queue: queue.Queue[tuple[str, Stack] | None] = queue.Queue()
        self._ready.connect(self._thumbnail_ready)
        self.itemClicked.connect(self._clicked)
        self._thread = threading.Thread(target=self._load, daemon=True, name="thumbnails")
        self._thread.start()

    def show_series(self, series: list[Series], current: Series | None) -> None:
        """List ``series`` (reusing the rows when they are already shown) and mark ``current``."""
        if [series_key(s) for s in series] != [series_key(s) for s in self._series]:
            from desktop.core.stack import Stack

            self._series = series
            self.clear()
            for one in series:
                self.addItem(self._item(one))
                if series_key(one) not in self.images:
                    self._queue.put((series_key(one), Stack(one.instances)))
        self.blockSignals(True)
        for row, one in enumerate(self._series):
            if current is not None and series_key(one) == series_key(current):
                self.setCurrentRow(row)
        self.blockSignals(False)

    def _item(self, series: Series) -> QListWidgetItem:
        number = "-" if series.series_number is None else series.series_number
        images = sum(frames_of(i) for i in series.instances)  # as the viewer's slider
        item = QListWidgetItem(
            f"{series.modality} {number}\n{series.series_description[:18]}\n{images} img"
        )
        item.setData(SERIES_ROLE, series)
        item.setToolTip(f"Series {number}: {series.series_description} ({images} images)")
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
        item.setIcon(self._icon(series_key(series)))
        return item

    def _icon(self, uid: str) -> QIcon:
        image = self.images.get(uid)
        if image is None:
            placeholder = QPixmap(SIZE, SIZE)
            placeholder.fill(QColor("#303030"))
            return QIcon(placeholder)
        return QIcon(QPixmap.fromImage(image))

    def _clicked(self, item: QListWidgetItem) -> None:
        self.series_chosen.emit(item.data(SERIES_ROLE))

    def _load(self) -> None:
        """On the loader thread: the middle image of each queued series, shrunk."""
        while (job := self._queue.get()) is not None:
            from desktop.core.thumbnails import thumbnail  # only once there is a series

            uid, stack = job
            image = None
            if stack.images:
                try:
                    image = to_qimage(thumbnail(stack.display(stack.middle()), SIZE))
                except Exception:  # a broken series gets a blank thumbnail, not a dead loader
                    log.warning("no thumbnail for series %s", uid, exc_info=True)
            self._ready.emit(uid, image)

    def _thumbnail_ready(self, uid: str, image: QImage | None) -> None:
        if image is None:
            return
        self.images[uid] = image
        for row in range(self.count()):
            item = self.item(row)
            if series_key(item.data(SERIES_ROLE)) == uid:
                item.setIcon(self._icon(uid))

    def close_loader(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
