"""The viewer used as a radiologist uses it, on the demo window: click a study, scroll with the
wheel and the keys, zoom, window by dragging, pick presets, type values, play a cine, export."""

import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PySide6.QtCore import QModelIndex, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop.app import InboxSettings, Services
from desktop.core.display import Window
from desktop.core.presets import CT_PRESETS, Computed
from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets
from desktop.demo import DEMO_AE, DEMO_NODE, Demo, prepare_demo
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.browser import BrowserPanel
from desktop.ui.widgets.viewer import ViewerPanel, window_value
from tests.helpers import cli
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_flow import open_demo_media
from tests.ui.test_stories import drop_on_node

CT_STUDY, MR_STUDY, XA_STUDY = (0, 0), (0, 1), (2, 0)  # (patient row, study row) in the demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the module: making its media and keys takes seconds on a busy machine."""
    environment = prepare_demo(tmp_path_factory.mktemp("viewer") / "demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DICOM_COURIER_HOME", str(environment.home))
        patch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", environment.password)
        yield environment


@pytest.fixture(scope="module")
def prompter() -> ScriptedPrompter:
    """Answers the module window's questions: a send is confirmed as it opens."""
    scripted = ScriptedPrompter()
    scripted.defaults["confirm"] = True
    return scripted


@pytest.fixture(scope="module")
def window(demo: Demo, prompter: ScriptedPrompter) -> Iterator[MainWindow]:
    services = Services(demo.home, lambda new: demo.password)
    inbox = InboxSettings(DEMO_AE, demo.port, identity="demo-pacs")
    main = MainWindow(services, inbox, prompter=prompter)
    main.show()
    yield main
    main.controller.stop_all()
    deadline = time.monotonic() + 30
    while main.controller.busy() and time.monotonic() < deadline:
        QApplication.processEvents()
    main.close()


def study_index(browser: BrowserPanel, patient: int, study: int) -> QModelIndex:
    return browser.model.index(study, 0, browser.model.index(patient, 0))


def click(qtbot, browser: BrowserPanel, index: QModelIndex) -> None:  # type: ignore[no-untyped-def]
    browser.view.scrollTo(index)
    position = browser.view.visualRect(index).center()
    qtbot.mouseClick(browser.view.viewport(), Qt.MouseButton.LeftButton, pos=position)


def open_study(qtbot, window: MainWindow, demo: Demo, row: tuple[int, int]) -> ViewerPanel:  # type: ignore[no-untyped-def]
    if window.browser.tree is None:
        open_demo_media(qtbot, window, demo)
    window.sources.setCurrentWidget(window.browser)
    window.browser.view.setCurrentIndex(QModelIndex())  # a click on the same row opens it anew
    with qtbot.waitSignal(window.viewer.image_shown, timeout=10000):
        click(qtbot, window.browser, study_index(window.browser, *row))
    return window.viewer


def wheel(widget, notches: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    """Turn the mouse wheel over the widget (positive: away from the user)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        widget.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def pixels(viewer: ViewerPanel) -> NDArray[np.uint8]:
    """What the canvas shows, as grey levels, without the corner overlay."""
    image = viewer.canvas.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    grey = data.reshape(height, image.bytesPerLine())[:, :width]
    return grey[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4].copy()


def expect_image(qtbot, viewer: ViewerPanel, index: int, act) -> None:  # type: ignore[no-untyped-def]
    act()
    qtbot.waitUntil(
        lambda: viewer.current == index and viewer.frame_label.text().startswith(f"{index + 1}/"),
        timeout=5000,
    )


def test_a_study_opens_at_its_middle_slice_and_scrolls(
    qtbot, window: MainWindow, demo: Demo
) -> None:  # type: ignore[no-untyped-def]
    viewer = open_study(qtbot, window, demo, CT_STUDY)
    assert (viewer.current, viewer.frame_label.text()) == (12, "13/24")
    assert "Image 13/24" in viewer.canvas.overlay["bottom-right"]
    assert "2026-03-14 09:30" in viewer.canvas.overlay["top-right"]  # as in the tree
    assert viewer.preset_names() == [Computed.AUTO, *CT_PRESETS]
    middle = pixels(viewer)
    assert middle.max() > 100  # an image, not a black canvas

    expect_image(qtbot, viewer, 13, lambda: wheel(viewer.canvas, -1))  # towards the user
    assert not np.array_equal(pixels(viewer), middle)  # the next slice is drawn
    expect_image(qtbot, viewer, 11, lambda: wheel(viewer.canvas, 2))
    qtbot.mouseClick(viewer.canvas, Qt.MouseButton.LeftButton)  # focus the image
    expect_image(qtbot, viewer, 12, lambda: qtbot.keyClick(viewer.canvas, Qt.Key.Key_PageDown))
    expect_image(qtbot, viewer, 13, lambda: qtbot.keyClick(viewer.canvas, Qt.Key.Key_Down))
    expect_image(qtbot, viewer, 12, lambda: qtbot.keyClick(viewer.canvas, Qt.Key.Key_Left))
    expect_image(qtbot, viewer, 23, lambda: qtbot.keyClick(viewer.canvas, Qt.Key.Key_End))
    expect_image(qtbot, viewer, 23, lambda: wheel(viewer.canvas, -3))  # stops at the end
    expect_image(qtbot, viewer, 0, lambda: qtbot.keyClick(viewer.canvas, Qt.Key.Key_Home))

    wheel(viewer.canvas, 2, Qt.KeyboardModifier.ControlModifier)  # zoom, not scroll
    assert viewer.current == 0 and viewer.canvas.zoom == pytest.approx(1.15**2)
    assert "Zoom 132%" in viewer.canvas.overlay["bottom-right"]

    # Lung preset from the list, then typed values.
    viewer.presets.setFocus()
    lung = viewer.preset_names().index("Lung −600/1500")
    for _ in range(lung):
        qtbot.keyClick(viewer.presets, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: viewer.shown is not None and viewer.shown.window.center == -600)
    assert viewer.width_box.value() == 1500
    viewer.width_box.selectAll()
    qtbot.keyClicks(viewer.width_box, "800")
    qtbot.keyClick(viewer.width_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: viewer.shown.window.width == 800, timeout=5000)
    assert "W 800 L -600" in viewer.canvas.overlay["bottom-right"]


def test_thumbnails_switch_series_and_window_drag_starts_from_the_screen(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, demo: Demo
) -> None:
    viewer = open_study(qtbot, window, demo, MR_STUDY)
    t1, t2 = window.browser.tree.patients[0].studies[1].series  # type: ignore[union-attr]
    assert viewer.selection.series is t1  # type: ignore[union-attr]
    qtbot.waitUntil(  # decoded off the GUI thread
        lambda: {t1.series_instance_uid, t2.series_instance_uid} <= set(viewer.strip.images),
        timeout=10000,
    )
    assert viewer.strip.count() == 2
    assert not viewer.strip.item(1).icon().isNull()
    second = viewer.strip.visualItemRect(viewer.strip.item(1)).center()
    with qtbot.waitSignal(viewer.image_shown, timeout=5000):
        qtbot.mouseClick(viewer.strip.viewport(), Qt.MouseButton.LeftButton, pos=second)
    assert viewer.selection.series is t2  # type: ignore[union-attr]
    assert viewer.preset_names() == list(Computed)  # MR: computed presets, no CT numbers

    # The MR has no stored window: the drag starts from the automatic one on screen.
    auto = viewer.shown.window  # type: ignore[union-attr]
    assert auto is not None and auto.width > 1000
    qtbot.waitUntil(lambda: viewer.width_box.value() == round(auto.width))
    before = pixels(viewer)
    start = QPoint(200, 150)
    QTest.mousePress(viewer.canvas, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(viewer.canvas, start + QPoint(20, 0))
    QTest.mouseRelease(viewer.canvas, Qt.MouseButton.LeftButton, pos=start + QPoint(20, 0))
    qtbot.waitUntil(lambda: viewer.shown.window.width != auto.width, timeout=5000)  # type: ignore[union-attr]
    dragged = viewer.shown.window  # type: ignore[union-attr]
    assert dragged.center == auto.center
    assert dragged.width == pytest.approx(auto.width * (1 + 20 / 256))
    after = pixels(viewer)
    assert 20 < after.mean() < 200  # slightly less contrast, far from a white screen
    assert abs(float(after.mean()) - float(before.mean())) < 30

    viewer.presets.setFocus()
    for _ in range(2):  # Auto → Min–max → Full range
        qtbot.keyClick(viewer.presets, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: viewer.shown.window.width == 4096, timeout=5000)  # type: ignore[union-attr]


def test_cine_plays_pauses_and_steps_with_its_shortcuts(
    qtbot, window: MainWindow, demo: Demo
) -> None:  # type: ignore[no-untyped-def]
    viewer = open_study(qtbot, window, demo, XA_STUDY)
    assert viewer.current == 0 and viewer.fps.value() == pytest.approx(15)
    for action in (viewer.play_action, viewer.next_action, viewer.previous_action):
        assert not action.icon().isNull()
    first = pixels(viewer)
    viewer.play_action.trigger()
    qtbot.waitUntil(lambda: viewer.current >= 3, timeout=5000)
    viewer.play_action.trigger()
    assert not viewer.timer.isActive() and viewer.play_action.text() == "Play"
    paused = viewer.current
    qtbot.waitUntil(lambda: viewer.frame_label.text() == f"{paused + 1}/48")
    assert not np.array_equal(pixels(viewer), first)  # the disc moved
    expect_image(qtbot, viewer, paused + 1, viewer.next_action.trigger)
    expect_image(qtbot, viewer, paused, viewer.previous_action.trigger)
    window.activateWindow()
    qtbot.mouseClick(viewer.canvas, Qt.MouseButton.LeftButton)
    qtbot.keyClick(viewer.canvas, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: viewer.timer.isActive(), timeout=2000)
    viewer.play_action.trigger()


def test_exports_propose_a_name_and_remember_the_folder(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, prompter: ScriptedPrompter, demo: Demo, tmp_path: Path
) -> None:
    viewer = open_study(qtbot, window, demo, CT_STUDY)
    folder = tmp_path / "exports"
    folder.mkdir()
    video, image = folder / "Demo_Alice-S1-CT-Axial_5_mm.mp4", folder / "image.png"
    prompter.answer("save_file", video, image)
    viewer.export_mp4_action.trigger()
    qtbot.waitUntil(video.exists, timeout=30000)
    assert Path(prompter.suggested[-1]).name == video.name
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 24  # the whole series, in order

    viewer.export_png_action.trigger()
    remembered = folder / "Demo_Alice-S1-CT-Axial_5_mm-0013.png"  # in the folder chosen before
    assert Path(prompter.suggested[-1]) == remembered
    qtbot.waitUntil(image.exists, timeout=10000)


def test_the_gui_s_image_32_is_the_command_line_s_frame_32(  # type: ignore[no-untyped-def]
    qtbot,
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    demo: Demo,
    tmp_path: Path,
    prompter: ScriptedPrompter,
) -> None:
    """G6 of findings7: the viewer's 'Image 32/48', exported as …-0032.png, was `export
    --frame 31`; both count from 1 now, as DICOM does."""
    viewer = open_study(qtbot, window, demo, XA_STUDY)
    expect_image(qtbot, viewer, 31, lambda: viewer.slider.setValue(31))
    assert "Image 32/48" in viewer.canvas.overlay["bottom-right"]
    exported = tmp_path / "gui.png"
    prompter.answer("save_file", exported)
    viewer.export_png_action.trigger()
    assert prompter.suggested[-1].endswith("-0032.png")
    qtbot.waitUntil(exported.exists, timeout=10000)
    [cine] = {Path(str(image.instance.path)) for image in viewer.stack.images}  # type: ignore[union-attr]
    shown = viewer.shown.window  # type: ignore[union-attr]
    window_level = f"--window={shown.center},{shown.width}"  # as displayed
    for frame in (32, 31):
        out = tmp_path / f"{frame}.png"
        status, _, err = cli(capsys, "export", cine, "--png", out, "--frame", frame, window_level)
        assert status == 0, err
    gui = QImage(str(exported))
    assert QImage(str(tmp_path / "32.png")) == gui != QImage(str(tmp_path / "31.png"))


def test_the_inbox_opens_beside_the_media(qtbot, window: MainWindow, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    open_demo_media(qtbot, window, demo)
    show_inbox = next(
        a for a in window.findChildren(type(window.viewer.play_action)) if a.text() == "Show &Inbox"
    )
    show_inbox.trigger()
    assert window.sources.currentWidget() is window.sources.inbox
    qtbot.waitUntil(lambda: "empty" in window.sources.inbox.title.text(), timeout=20000)

    window.sources.setCurrentWidget(window.sources.media)
    mr = study_index(window.browser, *MR_STUDY)
    window.browser.view.setCurrentIndex(mr)
    drop_on_node(window, window.browser.model.mimeData([mr]), DEMO_NODE)
    qtbot.waitUntil(lambda: len(list((demo.home / "inbox").rglob("*.dcm"))) == 24, timeout=60000)

    show_inbox.trigger()
    inbox = window.sources.inbox
    qtbot.waitUntil(lambda: inbox.tree is not None and len(inbox.tree.patients) == 1, timeout=20000)
    assert window.browser.tree is not None and len(window.browser.tree.patients) == 3  # kept
    with qtbot.waitSignal(window.viewer.image_shown, timeout=10000):
        click(qtbot, window.sources.inbox, study_index(window.sources.inbox, 0, 0))
    assert window.viewer.selection.series.series_description == "T1 axial"  # type: ignore[union-attr]


def test_the_overlay_stays_readable_on_a_white_image(qtbot, window: MainWindow, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    viewer = open_study(qtbot, window, demo, CT_STUDY)
    for box, value in ((viewer.width_box, "1"), (viewer.center_box, "-990")):
        box.selectAll()
        qtbot.keyClicks(box, value)
        qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: viewer.shown.window == Window(-990, 1), timeout=5000)  # type: ignore[union-attr]
    wheel(viewer.canvas, 8, Qt.KeyboardModifier.ControlModifier)  # the body fills the canvas
    grey = viewer.canvas.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    data = np.frombuffer(grey.constBits(), np.uint8, count=grey.sizeInBytes())
    corner = data.reshape(grey.height(), grey.bytesPerLine())[4:60, 4:160]
    assert (corner == 255).mean() > 0.5  # white behind the patient's name
    assert (corner < 60).sum() > 50  # the text's dark outline
    assert ((corner > 150) & (corner < 240)).sum() > 50  # the yellow text itself


def test_a_cine_frame_paints_the_image_converted_once_and_the_overlay_as_drawn(
    qtbot,  # type: ignore[no-untyped-def]
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Per paint, a grey image scaled in its own format cost 1.6 ms and the outlined overlay
    36 texts: a 240 frames/s cine has 4 ms a frame."""
    import numpy as np

    from desktop.ui.widgets.canvas import ImageCanvas
    from desktop.ui.widgets.thumbnails import to_qimage

    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(600, 500)
    canvas.show()
    drawn: list[str] = []
    real = canvas._label
    monkeypatch.setattr(canvas, "_label", lambda c, t: drawn.append(t) or real(c, t))
    canvas.overlay = {"top-left": "Demo Carol", "bottom-right": "Image 1/48"}
    for frame in range(3):
        image = to_qimage(np.full((64, 64), 40 * frame, dtype=np.uint8))
        assert image.format() == QImage.Format.Format_RGB32
        canvas.show_image(image)
        canvas.overlay["bottom-right"] = f"Image {frame + 1}/48"
        canvas.grab()  # paints now
    assert drawn == ["Demo Carol", "Image 1/48", "Image 2/48", "Image 3/48"]


def test_a_damaged_file_is_one_slot_the_overlay_follows_and_the_rows_tell_files_apart(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import pydicom

    from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

    study = StudySpec("PD", "Damaged^Dan", "20240101", "Bad", (SeriesSpec("CT", "ax", 4, 16, 16),))
    good = sorted(write_files(tmp_path / "media", (study,)))
    for name, change in (
        ("huge_dims.dcm", {"Rows": 65535, "Columns": 65535, "NumberOfFrames": "1000"}),
        ("bad_ts.dcm", {}),
    ):
        data = pydicom.dcmread(good[0])
        data.SOPInstanceUID = data.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        for keyword, value in change.items():
            setattr(data, keyword, value)
        if name == "bad_ts.dcm":
            data.file_meta.TransferSyntaxUID = "1.2.3.4.5.6"
        data.save_as(good[0].parent / name, enforce_file_format=True)
    window.sources.setCurrentWidget(window.browser)
    with qtbot.waitSignal(window.browser.loaded, timeout=20000):
        window.opening.open_path(tmp_path / "media")
    model = window.browser.model
    series = model.index(0, 0, model.index(0, 0, model.index(0, 0)))
    window.browser.view.expand(series)
    rows = [model.itemFromIndex(model.index(r, 1, series)).text() for r in range(6)]
    assert len(set(rows)) == 6 and "huge_dims.dcm" in rows  # each row names its file
    viewer = window.viewer
    viewer.error.connect(lambda _: None)
    with qtbot.waitSignal(viewer.image_shown, timeout=10000):
        click(qtbot, window.browser, series)
    assert len(viewer.stack) == 6 and viewer.slider.maximum() == 5  # one slot per file
    assert viewer.strip.item(0).text().endswith("6 img")  # the thumbnail agrees
    for key in (Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_PageUp, Qt.Key.Key_Up):
        qtbot.keyClick(viewer.canvas, key)
        qtbot.waitUntil(
            lambda: (
                viewer.frame_label.text() == f"{viewer.current + 1}/6"
                and viewer.canvas.overlay["bottom-right"].startswith(
                    f"Image {viewer.current + 1}/6"
                )
            ),
            timeout=5000,
        )
        assert viewer.slider.value() == viewer.current
    bad = [
        n
        for n, image in enumerate(viewer.stack.images)
        if image.instance.path.name in ("huge_dims.dcm", "bad_ts.dcm")
    ]
    for index in bad:
        viewer.slider.setValue(index)  # as dragging the slider there does
        qtbot.waitUntil(
            lambda i=index: (
                "center" in viewer.canvas.overlay
                and viewer.canvas.overlay["bottom-right"].startswith(f"Image {i + 1}/6\n")
            ),
            timeout=5000,
        )
        label = viewer.canvas._label("center", viewer.canvas.overlay["center"])
        assert label.deviceIndependentSize().width() <= viewer.canvas.width()  # wrapped


def test_a_fractional_window_is_shown_and_typed_as_it_is(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, demo: Demo, tmp_path: Path
) -> None:
    """A parametric map (a T1 map in seconds, a PET in SUV: values 0-20, window 2.5/3): the
    boxes and the overlay say the window's own values, and typing one keeps the other exactly
    (F3 of findings9: the boxes rounded to whole numbers, the overlay said L 2, and typing W
    moved L by half a unit)."""
    maps = StudySpec("M1", "Map^Values", "20260101", "Maps", (SeriesSpec("MR", "T1", count=3),))
    for number, dataset in enumerate(study_datasets(maps)):
        dataset.RescaleSlope, dataset.RescaleIntercept = "0.005", "0"
        dataset.WindowCenter, dataset.WindowWidth = "2.5", "3"
        dataset.save_as(tmp_path / f"map{number}.dcm", enforce_file_format=True)
    window.opening.open_path(tmp_path)
    qtbot.waitUntil(
        lambda: window.browser.tree is not None and window.browser.tree.root == tmp_path,
        timeout=20000,
    )
    try:
        viewer = open_study(qtbot, window, demo, (0, 0))
        assert viewer.shown is not None and viewer.shown.window == Window(2.5, 3)
        assert (viewer.center_box.text(), viewer.width_box.text()) == ("L 2.5", "W 3")
        assert "W 3 L 2.5" in viewer.canvas.overlay["bottom-right"]
        for box, value, typed in (
            (viewer.width_box, "4", Window(2.5, 4)),
            (viewer.center_box, "0.75", Window(0.75, 4)),
        ):
            box.selectAll()
            qtbot.keyClicks(box, value)
            qtbot.keyClick(box, Qt.Key.Key_Return)
            qtbot.waitUntil(lambda w=typed: viewer.shown.window == w, timeout=5000)  # type: ignore[union-attr]
        assert "W 4 L 0.75" in viewer.canvas.overlay["bottom-right"]
        start = QPoint(200, 150)  # a drag of 16 pixels right: 16 × 4/256 wider, not 16 × 1
        QTest.mousePress(viewer.canvas, Qt.MouseButton.LeftButton, pos=start)
        QTest.mouseMove(viewer.canvas, start + QPoint(16, 0))
        QTest.mouseRelease(viewer.canvas, Qt.MouseButton.LeftButton, pos=start + QPoint(16, 0))
        qtbot.waitUntil(lambda: viewer.shown.window.width != 4, timeout=5000)  # type: ignore[union-attr]
        assert viewer.shown.window == Window(0.75, 4.25)  # type: ignore[union-attr]
    finally:
        open_demo_media(qtbot, window, demo)
        qtbot.waitUntil(lambda: window.browser.tree.root == demo.media, timeout=20000)  # type: ignore[union-attr]


def test_window_values_are_said_with_their_fraction_and_huge_ones_short() -> None:
    """The overlay and boxes: 40, 2.5, 99.5 as they are; a hostile file's 1e308 (found by
    opening one) in a few characters, not 309 digits across the image."""
    said = [window_value(v) for v in (40.0, 2.5, 99.5, -0.001, 1e308, -3e9)]
    assert said == ["40", "2.5", "99.5", "0", "1e+308", "-3e+09"]
