"""Our paint events end their QPainter themselves, never leaving it to the collector.

A painter left to be ended when its Python object is freed stays active as long as anything
holds the paint event's frame: a traceback (an exception raised under it), a profiler, or
``sys._current_frames`` in another thread (the GUI benchmark's gap watchdog). Qt then ends
painting the window with the painter still active, and the painter is ended later, on
whichever thread drops the frame, in a raster engine already reused: ``bench.gui_bench
--only send`` crashed with SIGSEGV in the next paint (drawCachedGlyphs, setPen)."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from desktop.ui.widgets.canvas import ImageCanvas
from desktop.ui.widgets.narrow import ElidedLabel


@contextmanager
def frames_held(name: str) -> Iterator[list[FrameType]]:
    """The frames of every call of a function named ``name`` meanwhile, kept alive."""
    held: list[FrameType] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_name == name:
            held.append(frame)

    sys.setprofile(profile)
    try:
        yield held
    finally:
        sys.setprofile(None)


def painted(widget: QWidget) -> list[FrameType]:
    """The frames of ``widget``'s paint events while it is rendered once."""
    widget.resize(300, 120)
    with frames_held("paintEvent") as held:
        widget.grab()
    return held


def test_a_paint_event_ends_its_painter_while_its_frame_is_held(qtbot) -> None:  # type: ignore[no-untyped-def]
    label = ElidedLabel("a path far too long to fit in the label " * 4)
    canvas = ImageCanvas()
    image = QImage(64, 64, QImage.Format.Format_Grayscale8)
    image.fill(128)
    canvas.show_image(image)
    canvas.overlay = {"top-left": "Demo^Alice", "bottom-right": "W 400 L 40"}
    for widget in (label, canvas):
        qtbot.addWidget(widget)
        held = painted(widget)
        assert held, f"{type(widget).__name__} was not painted"
        for frame in held:
            painter = frame.f_locals["painter"]
            assert not painter.isActive(), f"{type(widget).__name__}'s painter is still active"
