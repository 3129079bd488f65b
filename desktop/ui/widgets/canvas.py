"""The viewer's canvas: the image fitted to the widget, zoomed and panned, with a readable
overlay in the corners; mouse drags and the wheel said as signals (window, scroll, zoom)."""

from PySide6.QtCore import QPointF, QRect, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QWidget

WHEEL_STEP = 120  # angleDelta units of one notch
ZOOM_STEP = 1.15  # per notch with Ctrl
OUTLINE = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
CORNERS = {
    "top-left": Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
    "top-right": Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight,
    "bottom-left": Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
    "bottom-right": Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight,
    "center": Qt.AlignmentFlag.AlignCenter,
}


class ImageCanvas(QWidget):
    """Paints the image fitted to the widget with a readable overlay in the corners."""

    window_dragged = Signal(float, float)  # change of centre, change of width (pixels)
    scrolled = Signal(int)  # images to move by (positive: next)
    zoomed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image: QImage | None = None
        self.overlay: dict[str, str] = {}
        self._labels: dict[tuple[str, str], QImage | None] = {}  # the overlay's, as drawn
        self.zoom = 1.0
        self.pan = QPointF(0, 0)
        self._drag_start: QPointF | None = None
        self._button = Qt.MouseButton.NoButton
        self._wheel = 0
        self.frames_shown = 0  # new images handed to the canvas, for the benchmarks
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.setFont(font)

    def show_image(self, image: QImage | None) -> None:
        self.image = image
        self.frames_shown += 1
        self.update()

    def reset_view(self) -> None:
        self.zoom, self.pan = 1.0, QPointF(0, 0)
        self.zoomed.emit(self.zoom)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        with QPainter(self) as painter:  # ended here, never by the collector
            painter.fillRect(self.rect(), QColor("black"))
            if self.image is not None and not self.image.isNull():
                scale = (
                    min(self.width() / self.image.width(), self.height() / self.image.height())
                    * self.zoom
                )
                width, height = self.image.width() * scale, self.image.height() * scale
                target = QRectF(
                    (self.width() - width) / 2 + self.pan.x(),
                    (self.height() - height) / 2 + self.pan.y(),
                    width,
                    height,
                )
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1)
                painter.drawImage(target, self.image)
            area = QRectF(self.rect().adjusted(8, 6, -8, -6))
            self._labels = {key: self._labels.get(key) for key in self.overlay.items()}
            for corner, text in self.overlay.items():
                label = self._labels[(corner, text)] or self._label(corner, text)
                self._labels[(corner, text)] = label
                size = label.deviceIndependentSize()
                flags = CORNERS[corner]
                x = (
                    area.left()
                    if flags & Qt.AlignmentFlag.AlignLeft
                    else area.right() - size.width()
                    if flags & Qt.AlignmentFlag.AlignRight
                    else area.center().x() - size.width() / 2
                )
                y = (
                    area.top()
                    if flags & Qt.AlignmentFlag.AlignTop
                    else area.bottom() - size.height()
                    if flags & Qt.AlignmentFlag.AlignBottom
                    else area.center().y() - size.height() / 2
                )
                painter.drawImage(QPointF(x, y), label)

    def _label(self, corner: str, text: str) -> QImage:
        """``text`` with the dark outline that keeps it readable on white bone or a bright
        ultrasound, drawn once and painted as an image while it stays the same: drawn on
        every paint (nine texts a corner) it cost a cine more than the image itself."""
        ratio = self.devicePixelRatioF()
        flags = int(CORNERS[corner].value)
        if corner == "center":  # a problem in words: wrapped to the canvas, not clipped
            flags |= Qt.TextFlag.TextWordWrap.value
            room = QRect(0, 0, max(self.width() - 24, 100), 10**6)
            size = QSizeF(self.fontMetrics().boundingRect(room, flags, text).size())
        else:
            size = QSizeF(self.fontMetrics().size(0, text))
        size += QSizeF(2, 2)
        label = QImage((size * ratio).toSize(), QImage.Format.Format_ARGB32_Premultiplied)
        label.setDevicePixelRatio(ratio)
        label.fill(Qt.GlobalColor.transparent)
        box = QRectF(1, 1, size.width() - 2, size.height() - 2)
        with QPainter(label) as painter:
            painter.setFont(self.font())
            painter.setPen(QColor(0, 0, 0, 220))
            for dx, dy in OUTLINE:
                painter.drawText(box.translated(dx, dy), flags, text)
            painter.setPen(QColor("#ffe066"))
            painter.drawText(box, flags, text)
        return label

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        self._drag_start, self._button = event.position(), event.button()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_start is None:
            return
        delta = event.position() - self._drag_start
        self._drag_start = event.position()
        if self._button == Qt.MouseButton.LeftButton:
            self.window_dragged.emit(delta.y(), delta.x())
        else:
            self.pan += delta
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_start = None

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom = max(0.1, min(20.0, self.zoom * ZOOM_STEP ** (delta / WHEEL_STEP)))
            self.zoomed.emit(self.zoom)
            self.update()
        else:
            self._wheel += delta  # touchpads send fractions of a notch
            steps = int(self._wheel / WHEEL_STEP)
            self._wheel -= steps * WHEEL_STEP
            if steps:
                self.scrolled.emit(-steps)  # wheel towards the user: next image
        event.accept()
