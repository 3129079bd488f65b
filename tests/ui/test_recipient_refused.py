"""A recipient that can never receive encrypted data (a CA's certificate) is refused in the
De-identify dialog itself, beside the list, the dialog kept open with what was typed; it was
refused only once the dialog had closed, everything typed lost (tester's F16)."""

from pathlib import Path

from PySide6.QtWidgets import QDialog

from desktop.demo import Demo
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.deidentify import NOBODY, DeidDialog, DeidSummary
from desktop.ui.widgets.dialogs import INVALID
from tests.ui.clicking import button, click, press_ok, trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import no_unexpected_errors, select_the_ct_series


def test_a_ca_chosen_as_recipient_is_refused_in_the_dialog(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    select_the_ct_series(qtbot, window, prompter, demo)
    out, said, summary = tmp_path / "copies", [], []

    def fill_in(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidDialog)
        qtbot.keyClicks(dialog.out, str(out))
        [ca] = [
            dialog.recipient.itemText(i)
            for i in range(dialog.recipient.count())
            if dialog.recipient.itemText(i).startswith("CA: ")
        ]
        dialog.recipient.setCurrentText(ca)
        press_ok(qtbot, dialog)
        assert dialog.isVisible() and dialog.out.text() == str(out)  # kept open, as typed
        said.append(dialog.problem.text())
        assert dialog.recipient.styleSheet() == INVALID
        dialog.recipient.setCurrentText(NOBODY)
        press_ok(qtbot, dialog)
        assert not dialog.isVisible()

    def read_summary(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidSummary)
        summary.append(dialog.message.text())
        click(qtbot, button(dialog, "Close"))

    prompter.answer("run", fill_in, read_summary)
    trigger(window, "De-identify…")
    qtbot.waitUntil(lambda: bool(summary), timeout=60000)
    assert "it is a CA certificate, not a recipient's" in said[0], said
    assert "de-identified copies written" in summary[0] and list(out.rglob("*.dcm"))
    no_unexpected_errors(prompter)
