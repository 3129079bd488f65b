"""The viewer: one instance's frames with window/level, zoom, pan, cine and the corner overlay."""

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop.core.display import Window
from desktop.core.errors import CourierError
from desktop.core.frames import FrameSource
from desktop.core.model import Instance
from desktop.ui.widgets.frame_decoder import FrameDecoder

PRESETS: dict[str, Window | None] = {
    "File / automatic": None,
    "CT soft tissue 40/400": Window(40, 400),
    "CT lung -600/1500": Window(-600, 1500),
    "CT bone 300/1500": Window(300, 1500),
    "CT brain 40/80": Window(40, 80),
}


def to_qimage(frame: NDArray[np.uint8]) -> QImage:
    """A QImage sharing nothing with ``frame`` (it is copied)."""
    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    if frame.ndim == 2:
        return QImage(frame.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QImage(frame.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ImageCanvas(QWidget):
    """Paints the frame fitted to the widget; drag to window, right-drag to pan, wheel to zoom."""

    window_dragged = Signal(float, float)  # change of centre, change of width

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.image: QImage | None = None
        self.overlay: dict[str, str] = {}
        self.zoom = 1.0
        self.pan = QPointF(0, 0)
        self._drag_start: QPointF | None = None
        self._button = Qt.MouseButton.NoButton
        self.frames_shown = 0  # new frames handed to the canvas, for the cine benchmark

    def show_image(self, image: QImage) -> None:
        self.image = image
        self.frames_shown += 1
        self.update()

    def reset_view(self) -> None:
        self.zoom, self.pan = 1.0, QPointF(0, 0)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
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
        painter.setPen(QColor("yellow"))
        flags = {
            "top-left": Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
            "top-right": Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight,
            "bottom-left": Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
            "bottom-right": Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight,
        }
        area = self.rect().adjusted(8, 6, -8, -6)
        for corner, text in self.overlay.items():
            painter.drawText(area, flags[corner], text)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
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
        self.zoom = max(0.1, min(20.0, self.zoom * (1.15 if event.angleDelta().y() > 0 else 0.87)))
        self.update()


class ViewerPanel(QWidget):
    """Frames of the selected instance, decoded off the GUI thread."""

    error = Signal(str)
    export_png_requested = Signal()
    export_mp4_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = ImageCanvas()
        self.canvas.window_dragged.connect(self._drag_window)
        self.decoder = FrameDecoder()
        self.decoder.frame_ready.connect(self._frame_ready)
        self.decoder.failed.connect(self.error)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.show_frame)
        self.play_button = QPushButton("▶ Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play or pause the cine (Space)")
        self.play_button.toggled.connect(self.set_playing)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 240)
        self.fps.setSuffix(" fps")
        self.fps.valueChanged.connect(self._rate_changed)
        self.presets = QComboBox()
        self.presets.addItems(list(PRESETS))
        self.presets.setToolTip(
            "Window presets; drag on the image to adjust (up/down: level, left/right: width)"
        )
        self.presets.currentTextChanged.connect(self._preset)
        self.frame_label = QLabel("")
        png, mp4 = QPushButton("Export PNG"), QPushButton("Export MP4")
        png.clicked.connect(self.export_png_requested)
        mp4.clicked.connect(self.export_mp4_requested)
        controls = QHBoxLayout()
        for widget in (
            self.play_button,
            self.fps,
            self.slider,
            self.frame_label,
            self.presets,
            png,
            mp4,
        ):
            controls.addWidget(widget, 1 if widget is self.slider else 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(controls)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.source: FrameSource | None = None
        self.instance: Instance | None = None
        self.windowing: Window | None = None
        self.current = 0
        self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.slider, self.play_button, self.fps, self.presets):
            widget.setEnabled(enabled)

    def show_instance(self, instance: Instance, context: dict[str, str]) -> None:
        """Show ``instance`` (context: patient, study, series texts for the overlay)."""
        self.set_playing(False)
        self.instance = instance
        try:
            source = FrameSource(Path(str(instance.path)))
        except CourierError as error:
            self.source = None
            self.decoder.set_source(None, None)
            self.canvas.image = None
            self.canvas.overlay = {"top-left": str(error)}
            self.canvas.update()
            self._set_enabled(False)
            return
        self.source = source
        self.windowing = source.default_window
        self.decoder.set_source(source, self.windowing)
        self.canvas.overlay = {
            "top-left": context.get("patient", ""),
            "top-right": context.get("study", ""),
            "bottom-left": context.get("series", ""),
        }
        self.canvas.reset_view()
        self.slider.blockSignals(True)
        self.slider.setRange(0, source.frame_count - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.fps.setValue(source.fps)
        self._set_enabled(True)
        self.play_button.setEnabled(source.frame_count > 1)
        self.show_frame(0)

    def show_frame(self, index: int) -> None:
        self.current = index
        self.decoder.request(index)

    def _frame_ready(self, index: int, frame: NDArray[np.uint8]) -> None:
        if self.source is None:
            return
        self.canvas.show_image(to_qimage(frame))
        self.frame_label.setText(f"{index + 1}/{self.source.frame_count}")
        window = self.windowing or self.source.default_window
        self.canvas.overlay["bottom-right"] = f"frame {index + 1}/{self.source.frame_count}\n" + (
            f"W {window.width:.0f} L {window.center:.0f}" if window else "W/L auto"
        )

    def set_playing(self, playing: bool) -> None:
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)
            return
        self.play_button.setText("⏸ Pause" if playing else "▶ Play")
        if playing and self.source is not None and self.source.frame_count > 1:
            self.timer.start(max(int(1000 / self.fps.value()), 1))
        else:
            self.timer.stop()

    def _rate_changed(self, fps: float) -> None:
        if self.timer.isActive():
            self.timer.setInterval(max(int(1000 / fps), 1))

    def _tick(self) -> None:
        if self.source is None:
            return
        self.slider.setValue((self.current + 1) % self.source.frame_count)

    def _preset(self, name: str) -> None:
        self.set_window(PRESETS.get(name))

    def set_window(self, window: Window | None) -> None:
        self.windowing = window
        self.decoder.set_window(window)
        self.show_frame(self.current)

    def _drag_window(self, level_delta: float, width_delta: float) -> None:
        if self.source is None or not self.source.is_grey:
            return
        base = self.windowing or self.source.default_window or Window(128, 256)
        step = max(base.width / 256, 1.0)
        self.set_window(
            Window(base.center + level_delta * step, max(base.width + width_delta * step, 1))
        )

    def closeEvent(self, event: object) -> None:
        self.decoder.close()
