"""``--pixels review`` in the GUI: the boxes found are shown over the image; a person removes
one, moves one and draws one with the mouse, and the copy is masked exactly as left."""

from pathlib import Path

import numpy as np
from pydicom.pixels.utils import pixel_array
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QDialog, QGraphicsView

from desktop.core.deid.batch import deidentify_files
from desktop.core.deid.boxes import Box
from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.pixels import PixelPolicy
from desktop.core.deid.profile import Profile
from desktop.ui.pixel_review import BoxItem, PixelReviewDialog, reviewer
from tests.burned_in import write_samples
from tests.ui.clicking import button, click, press_ok
from tests.ui.scripted import ScriptedPrompter

LEFT = Qt.MouseButton.LeftButton
NO_KEYS = Qt.KeyboardModifier.NoModifier
DRAWN = Box(300, 200, 60, 30)  # on the capture's grey panel: no text there


def at(view: QGraphicsView, x: float, y: float) -> QPoint:
    return view.mapFromScene(QPointF(x, y))


def drag(qtbot, view: QGraphicsView, start: QPoint, end: QPoint) -> None:  # type: ignore[no-untyped-def]
    port = view.viewport()
    qtbot.mousePress(port, LEFT, NO_KEYS, start)
    qtbot.mouseMove(port, QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2))
    qtbot.mouseMove(port, end)
    qtbot.mouseRelease(port, LEFT, NO_KEYS, end)


def test_review_removes_moves_and_adds_boxes_before_the_copy_is_made(
    qtbot,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    [(source, _)] = write_samples(tmp_path / "in", 2, seed=3)[1:]  # a single-frame capture
    shown: dict[str, list[Box]] = {}

    def person(dialog: QDialog) -> None:
        assert isinstance(dialog, PixelReviewDialog)
        qtbot.addWidget(dialog)
        view = dialog.view
        found = dialog.boxes()
        shown["found"] = found
        assert len(found) >= 3
        removed, moved = found[0], found[1]
        qtbot.mouseClick(view.viewport(), LEFT, NO_KEYS, at(view, removed.x + 3, removed.y + 3))
        click(qtbot, button(dialog, "Remove selected"))
        start = at(view, moved.x + 3, moved.y + 3)
        drag(qtbot, view, start, start + QPoint(0, 40))
        drag(qtbot, view, at(view, DRAWN.x, DRAWN.y), at(view, DRAWN.right, DRAWN.bottom))
        shown["left"] = dialog.boxes()
        press_ok(qtbot, dialog)

    prompter = ScriptedPrompter()
    prompter.answer("run", person)
    policy = PixelPolicy(review=reviewer(prompter))
    [done] = deidentify_files(
        [source], tmp_path / "out", Profile(KeyedMapping(bytes(32))), pixels=policy
    )
    assert done.copy is not None, done.error
    found, left = shown["found"], shown["left"]
    moved = found[1]
    assert found[0] not in left
    assert Box(moved.x, moved.y + 40, moved.width, moved.height) in left
    assert any(abs(b.x - DRAWN.x) <= 1 and abs(b.width - DRAWN.width) <= 2 for b in left)
    assert len(left) == len(found)

    before, after = pixel_array(str(source)), pixel_array(str(done.copy))
    changed = np.atleast_3d(before != after).any(axis=-1)
    expected = np.zeros_like(changed)
    inside = [box.clipped(640, 480) for box in left]
    for box in filter(None, inside):
        expected[box.y : box.bottom, box.x : box.right] = True
        assert (after[box.y : box.bottom, box.x : box.right] == after.min()).all(), "darkest"
    assert not (changed & ~expected).any(), "only the boxes left are masked"


def test_cancelling_the_review_makes_no_copy(tmp_path: Path) -> None:
    [(source, _)] = write_samples(tmp_path / "in", 2, seed=3)[1:]
    policy = PixelPolicy(review=reviewer(ScriptedPrompter()))  # no handler: Cancel
    [done] = deidentify_files(
        [source], tmp_path / "out", Profile(KeyedMapping(bytes(32))), pixels=policy
    )
    assert done.copy is None and "review of its burned-in text was cancelled" in done.error
    assert not list((tmp_path / "out").rglob("*.dcm"))


def test_delete_key_removes_the_selected_box(qtbot) -> None:  # type: ignore[no-untyped-def]
    frame = np.zeros((100, 120), np.uint8)
    dialog = PixelReviewDialog("t", frame, [Box(10, 10, 20, 10), Box(50, 50, 20, 10)], "")
    qtbot.addWidget(dialog)
    dialog.show()
    [first] = [i for i in dialog.scene.items() if isinstance(i, BoxItem) and i.box().x == 10]
    first.setSelected(True)
    qtbot.keyClick(dialog, Qt.Key.Key_Delete)
    assert dialog.boxes() == [Box(50, 50, 20, 10)]
