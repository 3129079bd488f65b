"""File ▸ De-identify… and the browser's menu, clicked as a person does: the dialog typed in,
the burned-in text reviewed image by image (a box dragged with the mouse, one review
cancelled), the summary read and "Open in browser" clicked; the copies are de-identified,
masked where the boxes were left, and re-identifiable by the chosen keystore identity only."""

import hashlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels.utils import pixel_array
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QMenu, QRadioButton

from desktop.core.deid.boxes import Box
from desktop.core.deid.table import Option
from desktop.demo import Demo
from desktop.reidentify import reidentify
from desktop.ui.main_window import MainWindow
from desktop.ui.pixel_review import PixelReviewDialog
from desktop.ui.widgets.deidentify import DATES, OPTION_TEXT, PIXELS, DeidDialog, DeidSummary
from tests.burned_in import write_samples
from tests.ui.clicking import button, click, press_ok, trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_deid_send import checkbox, tick
from tests.ui.test_pixel_review import at, drag
from tests.ui.test_stories import (
    click_row,
    no_unexpected_errors,
    open_media,
    select_the_ct_series,
)

MOVE = 40  #: pixels the person drags a box down


def radio(dialog: QDialog, text: str) -> QRadioButton:
    [found] = [b for b in dialog.findChildren(QRadioButton) if b.text() == text]
    return found


def answer_deid_without_pixels(qtbot, prompter: ScriptedPrompter, out: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """Queue the answers to De-identify…: the dialog, pixels left as they are, writing to
    ``out``; the summary read and closed. The list gets the summary's message and its list of
    problems (shown only when there are some)."""
    summary: list[str] = []

    def fill_in(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidDialog)
        assert radio(dialog, PIXELS["off"]).isChecked()
        qtbot.keyClicks(dialog.out, str(out))
        press_ok(qtbot, dialog)

    def read_summary(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidSummary)
        summary.extend([dialog.message.text(), dialog.problems.toPlainText()])
        assert dialog.problems.isVisible() == bool(summary[1])
        click(qtbot, button(dialog, "Close"))

    prompter.answer("run", fill_in, read_summary)
    return summary


def digests(folder: Path) -> dict[Path, bytes]:
    return {p: hashlib.sha256(p.read_bytes()).digest() for p in folder.rglob("*") if p.is_file()}


def test_de_identify_with_review_from_the_file_menu(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    burned = tmp_path / "burned"
    write_samples(burned, 2, seed=3)  # a 3-frame ultrasound cine and a secondary capture
    before = digests(burned)
    out = tmp_path / "copies"
    open_media(qtbot, window, prompter, burned)
    view, model = window.browser.view, window.browser.model
    assert model.rowCount() == 2  # one patient each
    click_row(qtbot, view, model.index(0, 0))
    view.scrollTo(model.index(1, 0))
    qtbot.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ControlModifier,
        view.visualRect(model.index(1, 0)).center(),
    )
    recipient = "demo-pacs (pacs.demo)"

    def fill_in(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidDialog)
        press_ok(qtbot, dialog)  # no folder yet: refused, said beside the field
        assert dialog.isVisible() and "folder" in dialog.problem.text()
        qtbot.keyClicks(dialog.out, str(out))
        tick(qtbot, checkbox(dialog, OPTION_TEXT[Option.RETAIN_INSTITUTION_IDENTITY]))
        dates = [checkbox(dialog, OPTION_TEXT[o]) for o in DATES]
        tick(qtbot, dates[0])
        tick(qtbot, dates[1])
        assert not dates[0].isChecked() and dates[1].isChecked()  # one kind of dates only
        tick(qtbot, dates[1])
        dialog.recipient.setCurrentText(recipient)
        assert dialog.recipient.currentText() == recipient
        tick(qtbot, radio(dialog, PIXELS["review"]))
        press_ok(qtbot, dialog)

    reviewed: dict[str, list[Box]] = {}

    def move_a_box(dialog: QDialog) -> None:
        assert isinstance(dialog, PixelReviewDialog)
        found = dialog.boxes()
        assert found, "the OCR found identifying text"
        moved = found[0]
        start = at(dialog.view, moved.x + 3, moved.y + 3)
        drag(qtbot, dialog.view, start, start + QPoint(0, MOVE))
        reviewed["found"], reviewed["left"] = found, dialog.boxes()
        press_ok(qtbot, dialog)

    def cancel_review(dialog: QDialog) -> None:
        assert isinstance(dialog, PixelReviewDialog)
        [box] = dialog.findChildren(QDialogButtonBox)
        click(qtbot, box.button(QDialogButtonBox.StandardButton.Cancel))

    summary: list[tuple[str, str]] = []

    def read_summary(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidSummary)
        summary.append((dialog.message.text(), dialog.problems.toPlainText()))
        click(qtbot, button(dialog, "Open in browser"))

    prompter.answer("run", fill_in, move_a_box, cancel_review, read_summary)
    prompter.answer("confirm", False)  # "Stop de-identifying the other images too?": no
    trigger(window, "De-identify…")
    qtbot.waitUntil(lambda: bool(summary), timeout=90000)
    text, problems = summary[0]
    assert "1 de-identified copy written" in text, (text, problems)
    assert "Burned-in text masked in 1 of them" in text
    assert "only its holder can re-identify" in text
    assert "burned-0001.dcm" in problems and "not reviewed" in problems, problems

    [copy_path] = out.rglob("*.dcm")
    source = burned / "burned-0000.dcm"
    original, copy = pydicom.dcmread(source), pydicom.dcmread(copy_path)
    assert copy.PatientIdentityRemoved == "YES" and copy.BurnedInAnnotation == "NO"
    assert str(copy.PatientName) != str(original.PatientName)
    assert copy.SOPInstanceUID != original.SOPInstanceUID
    assert copy.InstitutionName == original.InstitutionName  # the option ticked
    assert copy.NumberOfFrames == 3 and copy.file_meta.TransferSyntaxUID == (
        original.file_meta.TransferSyntaxUID
    )

    found, left = reviewed["found"], reviewed["left"]
    first = found[0]
    assert Box(first.x, first.y + MOVE, first.width, first.height) in left
    assert first not in left and len(left) == len(found)
    before_pixels, after = pixel_array(str(source)), pixel_array(str(copy_path))
    changed = (before_pixels != after).any(axis=(0, -1))  # any frame, any channel
    expected = np.zeros(changed.shape, bool)
    for box in filter(None, (b.clipped(640, 480) for b in left)):
        expected[box.y : box.bottom, box.x : box.right] = True
        region = after[:, box.y : box.bottom, box.x : box.right]
        assert (region == region.min()).all(), f"{box} masked in every frame"
    assert changed.any() and not (changed & ~expected).any(), "only the boxes left are masked"

    keystore = window.services.keystore
    reidentify(copy, keystore.unlock_identity("demo-pacs"))
    assert copy.PatientName == original.PatientName  # its recipient restores the originals
    with_other = pydicom.dcmread(copy_path)
    try:
        reidentify(with_other, keystore.unlock_identity("demo-workstation"))
    except Exception as error:
        assert "cannot re-identify" in str(error)
    else:
        raise AssertionError("another identity re-identified the copy")

    qtbot.waitUntil(lambda: window.browser.tree is not None and window.browser.tree.root == out)
    assert digests(burned) == before  # the sources are only read
    no_unexpected_errors(prompter)


def test_de_identify_a_series_from_the_browser_menu_without_pixels(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    series = select_the_ct_series(qtbot, window, prompter, demo)
    view = window.browser.view
    wanted = len(window.browser.selected_instances())
    out = tmp_path / "series-copies"
    summary = answer_deid_without_pixels(qtbot, prompter, out)
    chosen: list[str] = []

    def pick_from_menu() -> None:
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        [action] = [a for a in menu.actions() if a.text().replace("&", "") == "De-identify…"]
        chosen.append(action.text())
        menu.setActiveAction(action)
        qtbot.keyClick(menu, Qt.Key.Key_Return)

    QTimer.singleShot(200, pick_from_menu)
    point = view.visualRect(series).center()
    QApplication.sendEvent(  # what a right-click on the row sends
        view.viewport(),
        QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, point, view.viewport().mapToGlobal(point)
        ),
    )
    assert chosen
    qtbot.waitUntil(lambda: bool(summary), timeout=60000)
    assert f"{wanted} de-identified copies written" in summary[0]
    assert "Burned-in text was not searched" in summary[0]
    copies = [pydicom.dcmread(p, stop_before_pixels=True) for p in out.rglob("*.dcm")]
    assert len(copies) == wanted
    assert all(c.PatientIdentityRemoved == "YES" and "Alice" not in str(c.PatientName)
               for c in copies)  # fmt: skip
    assert not hasattr(copies[0], "EncryptedAttributesSequence")  # nobody may re-identify
    no_unexpected_errors(prompter)


def test_stopping_at_a_review_makes_no_copy(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    burned, out = tmp_path / "burned", tmp_path / "copies"
    write_samples(burned, 2, seed=5)
    open_media(qtbot, window, prompter, burned)
    window.browser.view.selectAll()

    def fill_in(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidDialog)
        qtbot.keyClicks(dialog.out, str(out))
        tick(qtbot, radio(dialog, PIXELS["review"]))
        press_ok(qtbot, dialog)

    summary: list[tuple[str, str]] = []

    def read_summary(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidSummary)
        summary.append((dialog.message.text(), dialog.problems.toPlainText()))

    # the first review has no handler: Cancel; then "Stop the others too?": yes
    prompter.answer("run", fill_in, None, read_summary)
    prompter.answer("confirm", True)
    trigger(window, "De-identify…")
    qtbot.waitUntil(lambda: bool(summary), timeout=60000)
    text, problems = summary[0]
    assert text.startswith("0 de-identified copies written") and "Cancelled: 1 of 2" in text
    assert problems.count("not reviewed") == 1, problems  # the others were never shown
    assert [kind for kind, title in prompter.asked if title.startswith("Burned-in")] == ["run"]
    assert not list(out.rglob("*.dcm"))
    no_unexpected_errors(prompter)
