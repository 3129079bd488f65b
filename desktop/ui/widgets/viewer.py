"""The viewer: a series as a stack (scroll, cine), window/level, zoom, pan and the overlay.

Mouse: wheel scrolls images, Ctrl+wheel zooms, left drag windows (up/down level, left/right
width), right or middle drag pans. Keys: arrows and Page Up/Down scroll, Home/End go to the
first/last image, Space plays and pauses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.core.dates import format_date, format_date_time
from desktop.core.errors import CourierError
from desktop.core.model import Series, frames_of
from desktop.ui.icons import icon
from desktop.ui.models.media_model import Selection
from desktop.ui.widgets.canvas import ImageCanvas
from desktop.ui.widgets.frame_decoder import FrameDecoder
from desktop.ui.widgets.thumbnails import SeriesStrip, to_qimage

if TYPE_CHECKING:  # numpy and pydicom (~0.7 s to import) are not needed to show the window
    from desktop.core.display import Rendered, Window
    from desktop.core.stack import Stack


WINDOW_DECIMALS = 2  # a PET in SUV is windowed 2.5/3: its fraction is the window
HUGE_WINDOW = 1e7


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def window_value(value: float) -> str:
    """A window's centre or width as the boxes and the overlay say it: its fraction (to
    ``WINDOW_DECIMALS``) only when it has one."""
    if abs(value) >= HUGE_WINDOW:  # a hostile file's 1e308: not 309 digits over the image
        return f"{value:.3g}"
    text = f"{value:.{WINDOW_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class WindowBox(QDoubleSpinBox):
    """A window value: typed with its fraction, shown without trailing zeros (L 40, L 2.5)."""

    def textFromValue(self, value: float) -> str:  # Qt's name
        return window_value(value)


class ViewerPanel(QWidget):
    """The series of the selected study as stacks, decoded off the GUI thread."""

    error = Signal(str)
    export_png_requested = Signal()
    export_mp4_requested = Signal()
    image_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = ImageCanvas()
        self.canvas.window_dragged.connect(self._drag_window)
        self.canvas.scrolled.connect(self.step)
        self.canvas.zoomed.connect(lambda _: self._update_overlay())
        self.strip = SeriesStrip()
        self.strip.series_chosen.connect(self._series_chosen)
        self.decoder = FrameDecoder()
        self.decoder.frame_ready.connect(self._frame_ready)
        self.decoder.failed.connect(self._frame_failed)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Image of the series, or frame of the cine")
        self.slider.valueChanged.connect(self.show_image)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 240)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("Cine rate")
        self.fps.valueChanged.connect(self._rate_changed)
        self.presets = QComboBox()
        self.presets.setToolTip(
            "Window presets for this modality. Auto: the file's window, else the min–max of "
            "the first image; Min–max: of the image on screen; Full range: every stored value"
        )
        self.presets.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.presets.activated.connect(lambda _: self._preset(self.presets.currentText()))
        self.center_box = self._window_box("L ", -65536, self._typed_center)
        self.width_box = self._window_box("W ", 1, self._typed_width)
        self.center_box.setToolTip("Window level (centre): type a value, or drag up/down")
        self.width_box.setToolTip("Window width: type a value, or drag left/right")
        self.frame_label = QLabel("")
        self._make_actions()
        bar = QToolBar()
        bar.addActions([self.previous_action, self.play_action, self.next_action])
        bar.addWidget(self.fps)
        scroll = QHBoxLayout()
        scroll.setContentsMargins(6, 2, 6, 0)
        scroll.addWidget(self.slider, 1)
        scroll.addWidget(self.frame_label)
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 0, 4, 0)
        controls.addWidget(bar)
        controls.addStretch(1)
        controls.addWidget(self.presets)
        controls.addWidget(self.center_box)
        controls.addWidget(self.width_box)
        tools = QToolBar()
        tools.addActions([self.fit_action, self.export_png_action, self.export_mp4_action])
        controls.addWidget(tools)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.canvas, 1)
        right.addLayout(scroll)
        right.addLayout(controls)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.strip)
        layout.addLayout(right, 1)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.selection: Selection | None = None
        self.stack: Stack | None = None
        self.windowing: Window | None = None  # chosen by the user; None: each image's own
        self.shown: Rendered | None = None  # what is on screen
        self.displayed = 0  # the index of the image on screen
        self.current = 0  # the image asked for (ahead of ``displayed`` while decoding)
        self._stacks: dict[int, tuple[Series, Stack]] = {}
        self._set_enabled(False)

    def _window_box(
        self, prefix: str, minimum: float, typed: Callable[[float], None]
    ) -> QDoubleSpinBox:
        box = WindowBox()
        box.setRange(minimum, 65536)
        box.setDecimals(WINDOW_DECIMALS)
        box.setPrefix(prefix)
        box.setKeyboardTracking(False)  # apply on Enter, not on every digit
        box.valueChanged.connect(typed)
        return box

    def _make_actions(self) -> None:
        def action(text: str, name: str, keys: list[QKeySequence | str]) -> QAction:
            made = QAction(icon(name), text, self)
            made.setShortcuts([QKeySequence(k) for k in keys])
            # Keys act on the image only: arrows keep moving in the presets and value boxes.
            made.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            shown = ", ".join(QKeySequence(k).toString() for k in keys)
            made.setToolTip(f"{text} ({shown})" if shown else text)
            self.canvas.addAction(made)
            return made

        self.play_action = action("Play", "play", ["Space"])
        self.play_action.setCheckable(True)
        self.play_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(self.play_action)
        self.play_action.toggled.connect(self.set_playing)
        self.next_action = action("Next image", "next", ["Right", "Down", "PgDown"])
        self.next_action.triggered.connect(lambda: self.step(1))
        self.previous_action = action("Previous image", "previous", ["Left", "Up", "PgUp"])
        self.previous_action.triggered.connect(lambda: self.step(-1))
        self.first_action = action("First image", "previous", ["Home"])
        self.first_action.triggered.connect(lambda: self.slider.setValue(0))
        self.last_action = action("Last image", "next", ["End"])
        self.last_action.triggered.connect(lambda: self.slider.setValue(self.slider.maximum()))
        self.fit_action = action("Fit to window", "zoom-fit", ["0"])
        self.fit_action.triggered.connect(self.canvas.reset_view)
        self.export_png_action = action("Export image as PNG…", "export-image", [])
        self.export_png_action.triggered.connect(self.export_png_requested)
        self.export_mp4_action = action("Export cine or series as MP4…", "export-video", [])
        self.export_mp4_action.triggered.connect(self.export_mp4_requested)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.slider, self.fps, self.presets, self.center_box, self.width_box):
            widget.setEnabled(enabled)
        for act in (self.next_action, self.previous_action, self.first_action, self.last_action):
            act.setEnabled(enabled)
        self.play_action.setEnabled(enabled and self.stack is not None and len(self.stack) > 1)

    # -- what is shown -----------------------------------------------------------------------

    def show_selection(self, selection: Selection) -> None:
        """Show the selected series, at the selected image or the series' middle image."""
        self.set_playing(False)
        self.selection = selection
        self.strip.show_series(selection.study.series, selection.series)
        stack = self._stack_of(selection.series)
        self.stack, self.current, self.displayed = stack, 0, 0
        self.windowing, self.shown = None, None
        self.decoder.set_stack(stack, None)
        self.canvas.reset_view()
        from desktop.core.presets import presets_for

        self.presets.clear()
        self.presets.addItems(presets_for(selection.series.modality))
        if not stack.images:
            self.canvas.show_image(None)
            self.canvas.overlay = {"center": "This series holds no image"}
            self._set_enabled(False)
            return
        start = stack.middle()
        if selection.instance is not None:
            start = next(
                (n for n, image in enumerate(stack.images) if image.instance is selection.instance),
                start,
            )
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(stack) - 1)
        self.slider.setValue(start)
        self.slider.blockSignals(False)
        try:
            self.fps.setValue(stack.fps)
        except CourierError:
            self.fps.setValue(10)
        self._set_enabled(True)
        self.show_image(start)

    def _stack_of(self, series: Series) -> Stack:
        """The series' stack, kept for the series object (a reloaded Inbox gives new ones)."""
        from desktop.core.stack import Stack

        cached = self._stacks.get(id(series))
        if cached is None or cached[0] is not series:
            cached = self._stacks[id(series)] = (series, Stack(series.instances))
        return cached[1]

    def _series_chosen(self, series: Series) -> None:
        if self.selection is not None:
            self.show_selection(Selection(self.selection.patient, self.selection.study, series))

    def show_image(self, index: int) -> None:
        """Ask for image ``index`` of the stack (shown when decoded)."""
        if self.stack is None or not self.stack.images:
            return
        self.current = max(0, min(index, len(self.stack) - 1))
        if self.slider.value() != self.current:
            self.slider.setValue(self.current)  # comes back here through valueChanged
            return
        self.decoder.request(self.current)

    def step(self, images: int) -> None:
        """Move ``images`` forward (negative: back), stopping at the ends of the stack."""
        if self.stack is not None:
            self.show_image(self.current + images)

    def _frame_ready(self, index: int, rendered: Rendered) -> None:
        """Show a decoded image. While the wheel outruns the decoder, images on the way are
        shown too (the newest request is decoded next), so the stack visibly moves."""
        if self.stack is None or not 0 <= index < len(self.stack):
            return
        self.shown, self.displayed = rendered, index
        self.canvas.show_image(to_qimage(rendered.pixels))
        self._show_window(rendered.window)
        self._update_overlay()
        self.image_shown.emit(index)

    def _frame_failed(self, index: int, message: str) -> None:
        if index != self.current:
            return
        self.shown, self.displayed = None, index  # the overlay and slider say where we are
        self.canvas.show_image(None)
        self._update_overlay(problem=message)
        self.error.emit(message)

    def _update_overlay(self, problem: str = "") -> None:
        selection, stack = self.selection, self.stack
        if selection is None or stack is None or not stack.images:
            return
        patient, study, series = selection.patient, selection.study, selection.series
        image = stack.images[self.displayed]
        position = f"Image {self.displayed + 1}/{len(stack)}"
        if len(stack.instances) > 1 and frames_of(image.instance) > 1:
            position += f" (frame {image.frame + 1})"
        window = self.shown.window if self.shown is not None else None
        self.frame_label.setText(f"{self.displayed + 1}/{len(stack)}")
        self.canvas.overlay = {
            "top-left": "\n".join(
                part
                for part in (
                    patient.patient_name.replace("^", " ").strip() or "(no name)",
                    f"ID {patient.patient_id}" if patient.patient_id else "",
                    f"born {format_date(patient.birth_date)}" if patient.birth_date else "",
                )
                if part
            ),
            "top-right": f"{study.study_description}\n"
            f"{format_date_time(study.study_date, study.study_time)}",
            "bottom-left": f"Series {_number(series.series_number)} {series.modality}\n"
            f"{series.series_description}",
            "bottom-right": f"{position}\n"
            + (
                f"W {window_value(window.width)} L {window_value(window.center)}\n"
                if window
                else ""
            )
            + f"Zoom {self.canvas.zoom * 100:.0f}%",
        }
        if problem:
            self.canvas.overlay["center"] = problem
        self.canvas.update()

    # -- cine --------------------------------------------------------------------------------

    def set_playing(self, playing: bool) -> None:
        """Play or pause the cine (only a stack of more than one image plays)."""
        playing = playing and self.stack is not None and len(self.stack) > 1
        if self.play_action.isChecked() != playing:
            self.play_action.setChecked(playing)  # comes back here through toggled
            return
        self.play_action.setIcon(icon("pause" if playing else "play"))
        self.play_action.setText("Pause" if playing else "Play")
        if playing:
            self.timer.start(max(int(1000 / self.fps.value()), 1))
        else:
            self.timer.stop()

    def _rate_changed(self, fps: float) -> None:
        if self.timer.isActive():
            self.timer.setInterval(max(int(1000 / fps), 1))

    def _tick(self) -> None:
        if self.stack is not None:
            self.show_image((self.current + 1) % len(self.stack))

    # -- window/level ------------------------------------------------------------------------

    def _preset(self, name: str) -> None:
        from desktop.core.presets import preset_window

        if self.stack is None or not self.stack.images:
            return
        try:
            source, frame = self.stack.source(self.current)
            window = preset_window(name, source, frame)
        except CourierError as error:
            self.error.emit(str(error))
            return
        self.set_window(window)

    def set_window(self, window: Window | None) -> None:
        """Draw every image with ``window`` (None: each image's own or automatic window)."""
        self.windowing = window
        self.decoder.set_window(window)
        self.show_image(self.current)

    def _show_window(self, window: Window | None) -> None:
        for box, value in (
            (self.center_box, None if window is None else window.center),
            (self.width_box, None if window is None else window.width),
        ):
            box.blockSignals(True)
            box.setEnabled(value is not None)
            if value is not None:
                box.setValue(value)
            box.blockSignals(False)

    def _typed_center(self, center: float) -> None:
        """The level typed, the width kept exactly as it is (the box shows it rounded)."""
        from desktop.core.display import Window

        shown = self._on_screen()
        self.set_window(Window(center, shown.width if shown else self.width_box.value()))

    def _typed_width(self, width: float) -> None:
        """The width typed, the level kept exactly as it is."""
        from desktop.core.display import Window

        shown = self._on_screen()
        self.set_window(Window(shown.center if shown else self.center_box.value(), max(width, 1)))

    def _on_screen(self) -> Window | None:
        """The window asked for last, else the one the image on screen is drawn with (None:
        colour, a VOI LUT)."""
        if self.windowing is not None:
            return self.windowing
        return self.shown.window if self.shown is not None else None

    def _drag_window(self, level_delta: float, width_delta: float) -> None:
        from desktop.core.display import Rendered, Window

        base = self.shown.window if self.shown is not None else None
        if base is None:  # colour, or a VOI LUT: drag from the min–max window of the image
            if self.stack is None or not self.stack.images:
                return
            try:
                source, frame = self.stack.source(self.current)
                base = source.min_max_window(frame)
            except CourierError:
                return
            if base is None:
                return
        step = max(base.width / 256, self._finest_step())
        window = Window(base.center + level_delta * step, max(base.width + width_delta * step, 1))
        # What the next drag step starts from, before the decoder has drawn it.
        if self.shown is not None:
            self.shown = Rendered(self.shown.pixels, window)
        self.set_window(window)

    def _finest_step(self) -> float:
        """The smallest window step a drag pixel makes: 1 for whole values (HU), the Rescale
        Slope when the values have a fraction (a PET in SUV), so a window 3 wide does not
        grow by a third a pixel."""
        if self.stack is None or not self.stack.images:
            return 1.0
        try:
            source, _ = self.stack.source(self.current)
            slope = abs(float(source.pipeline.dataset.get("RescaleSlope") or 1))
        except (CourierError, TypeError, ValueError):
            return 1.0
        return min(slope, 1.0) or 1.0

    def preset_names(self) -> list[str]:
        return [self.presets.itemText(i) for i in range(self.presets.count())]

    def close_threads(self) -> None:
        self.timer.stop()
        self.decoder.close()
        self.strip.close_loader()
