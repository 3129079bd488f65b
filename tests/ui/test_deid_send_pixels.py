"""Burned-in text on a de-identifying send, by clicks (F19): the send confirmation shows the
choice beside De-identify before sending and says what happens to the images that may show
text; left unsearched, the demo's ultrasound is held back (the log says why) and the CT beside
it is sent; the node dialog keeps the node's choice, which the confirmation then starts from."""

import pydicom
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog

from desktop.core.config import load_config
from desktop.demo import DEMO_NODE, Demo
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.send_confirmation import DEID_TEXT, SendConfirmation
from tests.ui.clicking import press_ok
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_deid_send import checkbox, tick
from tests.ui.test_stories import (
    click_row,
    drop_on_node,
    edit_the_demo_node,
    no_unexpected_errors,
    open_demo,
    wait_until_done,
)

NODE_DEID = "De-identify before sending (the node gets de-identified copies)"


def choose(qtbot, combo: QComboBox, mode: str) -> None:  # type: ignore[no-untyped-def]
    """Pick ``mode`` with the keyboard, as a person tabbing through the dialog does."""
    combo.setFocus()
    while combo.currentData() != mode:
        qtbot.keyClick(combo, Qt.Key.Key_Down)


def test_the_ultrasound_is_held_back_unsearched_and_the_ct_sent(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    open_demo(qtbot, window, prompter, demo)
    shown: list[str] = []

    def confirm_with_deid(dialog: QDialog) -> None:
        assert isinstance(dialog, SendConfirmation)
        assert not dialog.pixels_row.isVisible()  # the originals: nothing to choose
        tick(qtbot, checkbox(dialog, DEID_TEXT))
        assert dialog.pixels_row.isVisible() and dialog.pixels.currentData() == "off"
        shown.append(dialog.how.text())
        press_ok(qtbot, dialog)

    model = window.browser.model
    ct = model.index(0, 0, model.index(0, 0))  # Demo^Alice, CT Chest: 24 images
    ultrasound = model.index(0, 0, model.index(1, 0))  # Demo^Bob, Echocardiogram
    click_row(qtbot, window.browser.view, ct)
    prompter.answer("run", confirm_with_deid)
    drop_on_node(window, model.mimeData([ct, ultrasound]), DEMO_NODE)
    wait_until_done(qtbot, window)
    assert "pixels not searched: images that may show burned-in text held back" in shown[0]
    received = [pydicom.dcmread(p, stop_before_pixels=True)
                for p in (demo.home / "inbox").rglob("*.dcm")]  # fmt: skip
    assert len(received) == 24 and {c.Modality for c in received} == {"CT"}
    warnings = [e.summary for e in window.log.entries]
    assert any("not sent: its pixels may hold burned-in text (modality US" in w for w in warnings)
    assert any("1 of 25 images held back" in w for w in warnings)
    no_unexpected_errors(prompter)


def test_the_node_dialog_keeps_the_choice_and_the_confirmation_starts_from_it(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    def set_auto(dialog: QDialog) -> None:
        pixels = dialog.deid_pixels  # type: ignore[attr-defined]
        assert not pixels.isEnabled()  # only for a node that de-identifies
        tick(qtbot, checkbox(dialog, NODE_DEID))
        assert pixels.isEnabled() and pixels.currentData() == "off"
        choose(qtbot, pixels, "auto")
        press_ok(qtbot, dialog)

    edit_the_demo_node(qtbot, window, prompter, set_auto)
    node = load_config(demo.home).nodes[DEMO_NODE]
    assert node.deid and node.deid_pixels == "auto"

    open_demo(qtbot, window, prompter, demo)
    chosen: list[object] = []

    def look(dialog: QDialog) -> None:
        assert isinstance(dialog, SendConfirmation)
        assert dialog.pixels.currentData() == "auto"
        assert "pixels searched for burned-in text, the text found masked" in dialog.how.text()
        chosen.append(dialog.deidentification())
        dialog.reject()  # nothing sent: the choice is what is tested here

    prompter.answer("run", look)
    model = window.browser.model
    drop_on_node(window, model.mimeData([model.index(0, 0, model.index(0, 0))]), DEMO_NODE)
    qtbot.waitUntil(lambda: bool(chosen), timeout=20000)
    assert getattr(chosen[0], "pixels", None) == "auto"
    assert not window.transfers.rows
    no_unexpected_errors(prompter)


def test_when_every_image_is_held_back_the_box_says_why_and_what_to_do(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    open_demo(qtbot, window, prompter, demo)

    def confirm_with_deid(dialog: QDialog) -> None:
        tick(qtbot, checkbox(dialog, DEID_TEXT))
        press_ok(qtbot, dialog)

    model = window.browser.model
    ultrasound = model.index(0, 0, model.index(1, 0))  # Demo^Bob, Echocardiogram
    prompter.answer("run", confirm_with_deid)
    drop_on_node(window, model.mimeData([ultrasound]), DEMO_NODE)
    qtbot.waitUntil(lambda: bool(prompter.errors), timeout=30000)
    [(title, message, _)] = prompter.errors
    assert title == f"Transfer to {DEMO_NODE}"
    assert "1 of 1 images held back: their pixels may show burned-in text" in message
    assert "De-identify…, “Mask the identifying text found”" in message
    assert "Burned-in text: “Searched, the text found masked (auto)”" in message
    status = window.statusBar().currentMessage()
    assert "Queued" not in status and f"Nothing sent to {DEMO_NODE}" in status
    assert not list((demo.home / "inbox").rglob("*.dcm"))


def test_ticking_de_identify_in_the_shown_confirmation_grows_it_to_fit(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    open_demo(qtbot, window, prompter, demo)
    looked: list[bool] = []

    def tick_and_look(dialog: QDialog) -> None:
        assert isinstance(dialog, SendConfirmation)
        qtbot.waitExposed(dialog)
        tick(qtbot, checkbox(dialog, DEID_TEXT))
        qtbot.wait(50)  # the layout settles
        explanation, row = dialog.how, dialog.pixels_row
        assert explanation.isVisible() and row.isVisible()
        # a wrapped label's size hint is for its width: all its lines, none cut off
        needed = explanation.heightForWidth(explanation.width())
        assert explanation.height() >= needed > 0, (explanation.size(), needed)
        assert row.height() >= row.sizeHint().height(), row.size()  # not a 2-px sliver
        looked.append(True)
        dialog.reject()

    model = window.browser.model
    prompter.answer("run", tick_and_look)
    drop_on_node(window, model.mimeData([model.index(0, 0, model.index(1, 0))]), DEMO_NODE)
    qtbot.waitUntil(lambda: bool(looked), timeout=20000)
    no_unexpected_errors(prompter)
