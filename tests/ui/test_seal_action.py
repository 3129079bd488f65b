"""File ▸ Seal… then the sealed folder opened in the browser: the CT series sealed for the demo
PACS and signed by the workstation through the dialog, then opened again with the PACS's
identity when the browser offers it; what comes out is the original, byte for byte."""

from pathlib import Path

from PySide6.QtWidgets import QDialog

from desktop.demo import Demo
from desktop.sealing import part10
from desktop.security.keystore import Keystore
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.identity_folder import IdentityFolderDialog
from desktop.ui.widgets.recipient import CERTIFICATE_FILE
from desktop.ui.widgets.seal import SealDialog
from tests.ui.clicking import press_ok, trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import click_row, no_unexpected_errors, open_demo, study_index


def test_seal_the_selection_then_open_it_again(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    open_demo(qtbot, window, prompter, demo)
    series = window.browser.model.index(0, 0, study_index(window))
    click_row(qtbot, window.browser.view, series)
    originals = {i.path.name: i.path.read_bytes() for i in window.browser.selected_instances()}
    sealed, opened = tmp_path / "sealed", tmp_path / "opened"

    def seal_for_the_pacs(dialog: QDialog) -> None:
        assert isinstance(dialog, SealDialog)
        qtbot.keyClicks(dialog.out, str(sealed))
        dialog.chooser.combo.setCurrentText(CERTIFICATE_FILE)
        press_ok(qtbot, dialog)  # a file, but which?
        assert dialog.isVisible() and "certificate file" in dialog.problem.text()
        dialog.chooser.combo.setCurrentText("demo-pacs (pacs.demo)")
        dialog.signer.setCurrentText("demo-workstation")
        press_ok(qtbot, dialog)

    prompter.answer("run", seal_for_the_pacs)
    trigger(window, "Seal…")
    qtbot.waitUntil(lambda: bool(prompter.told), timeout=60000)
    title, text, details, warning = prompter.told[-1]
    count = len(originals)
    assert title == "Seal" and not warning and not details
    assert f"{count} of {count} files sealed for demo-pacs (pacs.demo)" in text, text
    written = [p for p in sealed.rglob("*") if p.is_file()]
    assert len(written) == count
    assert not any(part10(p.read_bytes()[:132]) for p in written)  # nothing in clear

    def open_with_the_pacs(dialog: QDialog) -> None:
        assert isinstance(dialog, IdentityFolderDialog)
        dialog.identity.setCurrentText("demo-pacs")
        qtbot.keyClicks(dialog.out, str(opened))
        press_ok(qtbot, dialog)

    prompter.answer("open_folder", sealed)
    prompter.answer("run", open_with_the_pacs)
    trigger(window, "Open folder or CD…")  # the browser offers to open them ("confirm": yes)
    qtbot.waitUntil(lambda: len(prompter.told) == 2, timeout=60000)
    assert f"{count} of {count} files opened with demo-pacs" in prompter.told[-1][1]
    assert {p.name: p.read_bytes() for p in opened.rglob("*") if p.is_file()} == originals
    no_unexpected_errors(prompter)


def test_sealing_for_a_ca_certificate_is_refused_as_the_cli_refuses_it(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    """Tester's finding 30, in the GUI: a certificate file that is a CA's."""
    open_demo(qtbot, window, prompter, demo)
    click_row(qtbot, window.browser.view, window.browser.model.index(0, 0, study_index(window)))
    sealed, ca = tmp_path / "sealed", tmp_path / "demo-ca.pem"
    ca.write_text(Keystore(demo.home, lambda new: demo.password).trusted()[0].pem)

    said: list[str] = []

    def seal_for_a_ca(dialog: QDialog) -> None:
        assert isinstance(dialog, SealDialog)
        qtbot.keyClicks(dialog.out, str(sealed))
        dialog.chooser.combo.setCurrentText(CERTIFICATE_FILE)
        qtbot.keyClicks(dialog.chooser.file, str(ca))
        press_ok(qtbot, dialog)
        assert dialog.isVisible()  # refused in the dialog (F16), what was typed kept
        said.append(dialog.problem.text())

    prompter.answer("run", seal_for_a_ca)
    trigger(window, "Seal…")
    assert "it is a CA certificate, not a recipient's" in said[0], said
    assert not sealed.exists() or not any(p.is_file() for p in sealed.rglob("*"))
    no_unexpected_errors(prompter)
