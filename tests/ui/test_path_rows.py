"""The Choose… buttons of De-identify, Seal and the identity-and-folder dialog: the path asked
for, with the dialog's own question, is put in the field; a cancel keeps what was typed."""

from pathlib import Path

from PySide6.QtWidgets import QDialog, QLineEdit, QPushButton

from desktop.ui.widgets.deidentify import DeidDialog
from desktop.ui.widgets.identity_folder import IdentityFolderDialog
from desktop.ui.widgets.seal import SealDialog
from tests.ui.clicking import click
from tests.ui.scripted import ScriptedPrompter


def test_choose_fills_the_field_and_a_cancel_keeps_what_was_typed(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prompter, root, chosen = ScriptedPrompter(), tmp_path / "media", tmp_path / "chosen"
    deid = DeidDialog("x", {}, prompter.open_folder, prompter.open_file)
    seal = SealDialog("x", root, {}, [], prompter.open_folder, prompter.open_file)
    reid = IdentityFolderDialog("Re-identify", "", root, ["me"], prompter.open_folder)
    fields: list[tuple[QDialog, QLineEdit, str]] = [
        (deid, deid.out, "De-identify: the folder for the copies"),
        (deid, deid.key_file, "The project key file"),
        (seal, seal.out, "Seal: the folder for the sealed files"),
        (reid, reid.out, "Re-identify: the folder for the files made"),
    ]
    for dialog, field, question in fields:
        qtbot.addWidget(dialog)
        dialog.show()
        [choose] = [b for b in field.parent().findChildren(QPushButton) if b.text() == "Choose…"]
        field.setText("typed")
        prompter.answer("open_folder", None, chosen)
        prompter.answer("open_file", None, chosen)
        click(qtbot, choose)  # cancelled
        assert field.text() == "typed"
        click(qtbot, choose)
        assert field.text() == str(chosen)
        assert prompter.asked[-1][1] == question
