"""File ▸ Re-identify…: de-identified copies whose originals are encrypted for the demo PACS
are opened, selected and re-identified with its identity through the dialog; one kept for the
workstation is said not to be ours, and the selected files stay as they were."""

from pathlib import Path

import pydicom
from PySide6.QtWidgets import QDialog

from desktop.deidentify import copies
from desktop.demo import Demo
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.identity_folder import IdentityFolderDialog
from tests.ui.clicking import press_ok, trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_deid_action import digests
from tests.ui.test_stories import no_unexpected_errors, open_media


def test_re_identify_the_selected_copies_with_an_identity(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    keystore = window.services.keystore
    series = sorted((demo.media / "PT000000" / "ST000000" / "SE000000").iterdir())
    deidentified, out = tmp_path / "deidentified", tmp_path / "restored"
    for files, who in ((series[:3], "demo-pacs"), (series[3:4], "demo-workstation")):
        pem = keystore.identity(who).certificate.pem.encode("ascii")
        made = list(copies(files, deidentified, options=frozenset(), recipient=pem))
        assert all(done.copy is not None for done in made)
    before = digests(deidentified)
    open_media(qtbot, window, prompter, deidentified)
    window.browser.view.selectAll()

    def choose(dialog: QDialog) -> None:
        assert isinstance(dialog, IdentityFolderDialog)
        assert dialog.windowTitle() == "Re-identify"
        assert "4 selected images" in dialog.intro.text()
        dialog.identity.setCurrentText("demo-pacs")
        qtbot.keyClicks(dialog.out, str(out))
        press_ok(qtbot, dialog)

    prompter.answer("run", choose)
    trigger(window, "Re-identify…")
    qtbot.waitUntil(lambda: bool(prompter.told), timeout=30000)
    title, text, details, warning = prompter.told[0]
    assert title == "Re-identify" and warning
    assert "3 of 4 files re-identified with demo-pacs" in text, text
    assert details.count("not re-identified") == 1, details
    assert (  # as Open sealed files names it
        "that is your identity 'demo-workstation': re-identify it with identity "
        "demo-workstation instead" in details
    ), details
    restored = [pydicom.dcmread(p, stop_before_pixels=True) for p in out.rglob("*.dcm")]
    originals = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in series[:3]}
    assert len(restored) == 3
    for copy in restored:
        original = pydicom.dcmread(originals[copy.SOPInstanceUID], stop_before_pixels=True)
        assert copy.PatientName == original.PatientName and copy.PatientID == original.PatientID
    qtbot.waitUntil(lambda: window.browser.tree is not None and window.browser.tree.root == out)
    assert digests(deidentified) == before
    no_unexpected_errors(prompter)
