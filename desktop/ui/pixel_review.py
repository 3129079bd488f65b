"""``--pixels review`` in the GUI: the image with the boxes found over it, for a person to add,
move or remove before the copies are made. Drag a box to move it, drag on the image to draw a
new one, select boxes and press Remove (or Delete) to drop them; OK masks the boxes shown."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.deid.boxes import Box
from desktop.ui.widgets.thumbnails import to_qimage

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from desktop.core.deid.burned_in import Finding
    from desktop.ui.prompter import Prompter

MIN_SIDE = 3  #: a drawn box smaller than this (a click) is not a box
BOX_PEN = QColor(255, 40, 40)
BOX_FILL = QColor(255, 40, 40, 90)


class BoxItem(QGraphicsRectItem):
    """One box to mask: movable and selectable, its rectangle in image pixels."""

    def __init__(self, box: Box) -> None:
        super().__init__(0, 0, box.width, box.height)
        self.setPos(box.x, box.y)
        self.setPen(QPen(BOX_PEN, 0))
        self.setBrush(QBrush(BOX_FILL))
        flags = QGraphicsItem.GraphicsItemFlag
        self.setFlags(flags.ItemIsMovable | flags.ItemIsSelectable)

    def box(self) -> Box:
        rect = self.rect().translated(self.pos())
        return Box(round(rect.x()), round(rect.y()), round(rect.width()), round(rect.height()))


class ReviewView(QGraphicsView):
    """The image; a drag that starts off every box draws a new one."""

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self._start: QPointF | None = None
        self._drawn: QGraphicsRectItem | None = None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not isinstance(
            self.itemAt(event.position().toPoint()), BoxItem
        ):
            self.scene().clearSelection()
            self._start = self.mapToScene(event.position().toPoint())
            self._drawn = self.scene().addRect(QRectF(self._start, self._start), QPen(BOX_PEN, 0))
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._start is not None and self._drawn is not None:
            end = self.mapToScene(event.position().toPoint())
            self._drawn.setRect(QRectF(self._start, end).normalized())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._start is None or self._drawn is None:
            super().mouseReleaseEvent(event)
            return
        end = self.mapToScene(event.position().toPoint())
        rect = QRectF(self._start, end).normalized()
        self.scene().removeItem(self._drawn)
        self._start = self._drawn = None
        if rect.width() >= MIN_SIDE and rect.height() >= MIN_SIDE:
            self.scene().addItem(
                BoxItem(
                    Box(round(rect.x()), round(rect.y()), round(rect.width()), round(rect.height()))
                )
            )


class PixelReviewDialog(QDialog):
    """The boxes to mask over one frame of the image; ``boxes()`` once accepted."""

    def __init__(
        self,
        title: str,
        frame: "NDArray[np.uint8]",
        boxes: Sequence[Box],
        explanation: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.scene = QGraphicsScene(self)
        self.scene.addItem(QGraphicsPixmapItem(QPixmap.fromImage(to_qimage(frame))))
        for box in boxes:
            self.scene.addItem(BoxItem(box))
        self.view = ReviewView(self.scene, self)
        self.view.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        remove = QPushButton("Remove selected", self)
        remove.clicked.connect(self.remove_selected)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Mask these boxes")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        help_text = QLabel(
            f"{explanation}\nDrag a box to move it, drag on the image to add one, select "
            "and press Remove selected (or Delete) to leave that text as it is.",
            self,
        )
        help_text.setWordWrap(True)
        layout.addWidget(help_text)
        layout.addWidget(self.view, 1)
        layout.addWidget(remove)
        layout.addWidget(buttons)
        height, width = frame.shape[:2]
        self.resize(min(width + 40, 1400), min(height + 160, 1000))

    def boxes(self) -> list[Box]:
        """The boxes now shown, top to bottom."""
        return sorted(
            (item.box() for item in self.scene.items() if isinstance(item, BoxItem)),
            key=lambda box: (box.y, box.x),
        )

    def remove_selected(self) -> None:
        for item in self.scene.selectedItems():
            self.scene.removeItem(item)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.remove_selected()
            return
        super().keyPressEvent(event)


def reviewer(prompter: "Prompter") -> Callable[[Path, "Finding"], list[Box] | None]:
    """A ``PixelPolicy.review`` that asks ``prompter`` (on the GUI thread)."""
    from desktop.core.frames import FrameSource

    def review(source: Path, finding: "Finding") -> list[Box] | None:
        frame = FrameSource(source).display(finding.frames[0] if finding.frames else 0)
        why = "; ".join(finding.triage.reasons)
        texts = dict.fromkeys(line.text for line in finding.lines)  # each frame reads them
        read = ", ".join(f"“{text}”" for text in list(texts)[:12]) or "no text"
        explanation = f"{source.name} was searched ({why}). Read: {read}."
        return prompter.review_boxes(
            f"Burned-in text: {source.name}", frame, finding.boxes, explanation
        )

    return review
