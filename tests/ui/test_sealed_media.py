"""Sealed media in the browser: opening a folder of secure DICOM files offers to open them
with an identity; the dialog is answered, the files inside are written and shown, and a file
sealed for someone else is said not to be ours."""

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from PySide6.QtWidgets import QDialog

from desktop.core.header import SEALED
from desktop.core.media import open_media
from desktop.demo import Demo
from desktop.security.cms import seal
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.identity_folder import IdentityFolderDialog
from tests.helpers import cli
from tests.ui.clicking import press_ok, trigger
from tests.ui.scripted import DialogHandler, ScriptedPrompter
from tests.ui.test_stories import no_unexpected_errors


def sealed_media(window: MainWindow, demo: Demo, folder: Path) -> dict[str, bytes]:
    """Three CT images sealed for the demo PACS, one for the workstation; the originals by
    the name of their sealed file."""
    keystore = window.services.keystore
    ct = sorted((demo.media / "PT000000" / "ST000000" / "SE000000").iterdir())[:4]
    originals = {}
    folder.mkdir()
    for number, source in enumerate(ct):
        who = "demo-pacs" if number < 3 else "demo-workstation"
        recipient = x509.load_pem_x509_certificate(
            keystore.identity(who).certificate.pem.encode("ascii")
        )
        name = f"SEALED{number:02d}"
        (folder / name).write_bytes(seal(source.read_bytes(), recipient, None))
        originals[name] = source.read_bytes()
    return originals


def open_and_unseal(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, prompter: ScriptedPrompter, media: Path, choose: DialogHandler
) -> None:
    """Open ``media`` by File ▸ Open folder or CD…, say yes to opening its sealed files, let
    ``choose`` answer the identity-and-folder dialog, and wait for the summary."""
    prompter.answer("open_folder", media)
    prompter.answer("confirm", True)  # "Open them with one of your identities?"
    prompter.answer("run", choose)
    trigger(window, "Open folder or CD…")
    qtbot.waitUntil(lambda: bool(prompter.told), timeout=60000)


def test_the_browser_offers_to_open_sealed_files_with_an_identity(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    media, out = tmp_path / "sealed", tmp_path / "opened"
    originals = sealed_media(window, demo, media)

    def choose(dialog: QDialog) -> None:
        assert isinstance(dialog, IdentityFolderDialog)
        assert dialog.identity.currentText() == "demo-pacs"  # the keystore's identities
        qtbot.keyClicks(dialog.out, str(media))
        press_ok(qtbot, dialog)  # not over the sealed files themselves
        assert dialog.isVisible() and "another folder" in dialog.problem.text()
        dialog.out.clear()
        qtbot.keyClicks(dialog.out, str(out))
        press_ok(qtbot, dialog)

    open_and_unseal(qtbot, window, prompter, media, choose)
    assert ("confirm", "Sealed files") in prompter.asked
    title, text, details, warning = prompter.told[0]
    assert title == "Open sealed files"
    assert "3 of 4 files opened with demo-pacs" in text and warning
    assert "SEALED03: not opened" in details and "demo-pacs" in details, details
    # tester's F9: the identity that opens it is named, the CA only as its issuer
    assert (
        "issued by DICOM Courier Demo CA; that is your identity 'demo-workstation': "
        "open it with identity demo-workstation instead" in details
    ), details
    # tester's F15: sealed without a signature, nothing says who sent them
    assert "3 opened with a warning: NOT SIGNED: the sender is not authenticated" in text
    assert f"{media / 'SEALED00'}: NOT SIGNED" in details
    for name, content in originals.items():
        opened = out / name
        assert opened.read_bytes() == content if name != "SEALED03" else not opened.exists()
    qtbot.waitUntil(lambda: window.browser.tree is not None and window.browser.tree.root == out)
    assert len(list(window.browser.tree.instances())) == 3
    no_unexpected_errors(prompter)


def test_settings_can_require_signed_sealed_files(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """F15 left over: the GUI opened unsigned sealed files whatever the user wanted; Settings
    ▸ Require signed sealed files refuses them as `unseal` does, and is the CLI's setting."""
    media = tmp_path / "sealed"
    sealed_media(window, demo, media)
    action = window.unsealing.require_signed_action
    [settings] = [a.menu() for a in window.menuBar().actions() if a.text() == "&Settings"]
    assert action in settings.actions() and not action.isChecked()
    trigger(window, "Require signed sealed files")
    assert action.isChecked()
    assert cli(capsys, "settings")[1] == "require signed sealed files: on\n"

    def into(out: Path, refused: bool) -> Callable[[QDialog], None]:
        def choose(dialog: QDialog) -> None:
            assert isinstance(dialog, IdentityFolderDialog)
            assert ("Files that are not signed are refused" in dialog.intro.text()) == refused
            dialog.out.clear()  # the folder chosen last time
            qtbot.keyClicks(dialog.out, str(out))
            press_ok(qtbot, dialog)

        return choose

    prompter.answer("open_folder", media)
    prompter.answer("confirm", True)
    prompter.answer("run", into(tmp_path / "refused", True))
    trigger(window, "Open folder or CD…")
    qtbot.waitUntil(lambda: bool(prompter.told), timeout=30000)
    _, text, details, warning = prompter.told.pop()
    assert "0 of 4 files opened" in text and warning, text
    assert (
        f"{media / 'SEALED00'}: not opened: NOT SIGNED: the sender is not authenticated (only "
        "a digest protects it); refused, as a signed file is required" in details
    ), details
    assert not (tmp_path / "refused" / "SEALED00").exists()

    assert cli(capsys, "settings", "--require-signed-sealed", "off")[0] == 0
    prompter.answer("run", into(tmp_path / "opened", False))  # the CLI's change is seen
    trigger(window, "Open sealed files…")
    qtbot.waitUntil(lambda: bool(prompter.told), timeout=30000)
    assert "3 of 4 files opened" in prompter.told[-1][1] and not action.isChecked()
    assert (tmp_path / "opened" / "SEALED00").is_file()
    no_unexpected_errors(prompter)


def test_sealed_files_are_listed_as_such_and_the_action_waits_for_an_answer(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    media = tmp_path / "sealed"
    sealed_media(window, demo, media)
    prompter.answer("open_folder", media)
    prompter.answer("confirm", False)  # not now
    trigger(window, "Open folder or CD…")
    qtbot.waitUntil(lambda: window.browser.tree is not None, timeout=30000)
    tree = window.browser.tree
    assert tree is not None and not list(tree.instances())
    assert {p.reason for p in tree.problems} == {SEALED}
    assert window.browser.problems_button.text() == "4 problem(s)"
    trigger(window, "Open sealed files…")  # later, from the File menu: no handler, Cancel
    assert prompter.asked[-1] == ("run", "Open sealed files")
    no_unexpected_errors(prompter)


@pytest.mark.parametrize("patients", [slice(0, 1), slice(1, 3)], ids=["ct", "over-16-mb"])
def test_sealed_media_open_as_dicomdir_media_again(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    patients: slice,
) -> None:
    """Tester's F9: the sealed DICOMDIR of export-media --seal-for was left out, so the
    opened folder was a plain folder, not the media `unseal` gives back. Tester's F10 (round
    6): a sealed file over 16 MB (the demo's cine: four DER length bytes) was not known as
    sealed, so only the DICOMDIR was opened, its images all missing."""
    recipient = tmp_path / "demo-pacs.pem"
    recipient.write_text(window.services.keystore.identity("demo-pacs").certificate.pem)
    studies = [s for p in open_media(demo.media).patients[patients] for s in p.studies]
    uids = [study.study_instance_uid for study in studies]
    media, out = tmp_path / "sealed", tmp_path / "opened"
    status, _, err = cli(
        capsys, "export-media", "--study", *uids, "--from", demo.media, "--out", media,
        "--seal-for", recipient,
    )  # fmt: skip
    assert status == 0, err
    images = sum(len(series.instances) for study in studies for series in study.series)

    def choose(dialog: QDialog) -> None:
        qtbot.keyClicks(dialog.out, str(out))  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    open_and_unseal(qtbot, window, prompter, media, choose)
    qtbot.waitUntil(lambda: window.browser.tree is not None and window.browser.tree.root == out)
    assert (out / "DICOMDIR").is_file()
    assert window.browser.tree.source == "dicomdir" and window.browser.tree.problems == []
    assert len(list(window.browser.tree.instances())) == images
    assert f"{images + 1} of {images + 1} files opened" in prompter.told[0][1]
    no_unexpected_errors(prompter)
