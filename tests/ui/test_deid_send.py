"""De-identify before sending, by clicks: the checkbox of the send confirmation, and the node
setting of the node dialog (then fixed on in the confirmation); the demo PACS receives
de-identified copies, the media stay as they were, the copies' area is emptied."""

import hashlib
from pathlib import Path

import pydicom
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QDialog

from desktop.core.config import edit_node, load_config
from desktop.demo import DEMO_NODE, Demo
from desktop.net.queue import TransferQueue
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.send_confirmation import DEID_TEXT, SendConfirmation
from tests.ui.clicking import press_ok
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import (
    click_row,
    drop_on_node,
    edit_the_demo_node,
    no_unexpected_errors,
    open_demo,
    study_index,
    wait_until_done,
)


def checkbox(dialog: QDialog, text: str) -> QCheckBox:
    [found] = [b for b in dialog.findChildren(QCheckBox) if b.text() == text]
    return found


def tick(qtbot, box: QCheckBox) -> None:  # type: ignore[no-untyped-def]
    """Click the box itself, as a person does (a wide checkbox's middle may be empty)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(6, box.height() // 2))


def send_study(qtbot, window: MainWindow, demo: Demo) -> list[Path]:  # type: ignore[no-untyped-def]
    """Drop the CT study on the demo PACS; the files the PACS received once it is done."""
    study = study_index(window)  # Demo^Alice, CT Chest: 24 images
    click_row(qtbot, window.browser.view, study)
    drop_on_node(window, window.browser.model.mimeData([study]), DEMO_NODE)
    wait_until_done(qtbot, window)
    return sorted((demo.home / "inbox").rglob("*.dcm"))


def media_files(demo: Demo) -> list[Path]:
    return [p for p in demo.media.rglob("*") if p.is_file() and p.name != "DICOMDIR"]


def media_hashes(demo: Demo) -> dict[Path, bytes]:
    hashes = {p: hashlib.sha256(p.read_bytes()).digest() for p in media_files(demo)}
    assert len(hashes) > 24
    return hashes


def test_ticking_de_identify_in_the_send_confirmation(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    before = media_hashes(demo)
    open_demo(qtbot, window, prompter, demo)
    shown: list[str] = []

    def confirm_with_deid(dialog: QDialog) -> None:
        assert isinstance(dialog, SendConfirmation)
        deid = checkbox(dialog, DEID_TEXT)
        assert deid.isEnabled() and not deid.isChecked() and not dialog.how.isVisible()
        tick(qtbot, deid)
        shown.append(dialog.how.text())
        press_ok(qtbot, dialog)

    prompter.answer("run", confirm_with_deid)
    received = send_study(qtbot, window, demo)
    assert "Basic Application Confidentiality Profile; no option" in shown[0]
    assert len(received) == 24
    for path in received:
        copy = pydicom.dcmread(path, stop_before_pixels=True)
        assert copy.PatientIdentityRemoved == "YES" and "Alice" not in str(copy.PatientName)
    assert media_hashes(demo) == before
    area = demo.home / "deidentified"
    qtbot.waitUntil(lambda: list(area.iterdir()) == [], timeout=10000)  # once the job ends
    [job] = TransferQueue(demo.home / "queue.sqlite").jobs()
    assert job.deidentified.startswith("de-identified copies")
    no_unexpected_errors(prompter)


def test_a_node_set_to_de_identify_in_its_dialog(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    def set_deid(dialog: QDialog) -> None:
        options = checkbox(dialog, "retain-uids")
        assert not options.isEnabled()  # only for a node that de-identifies
        tick(qtbot, checkbox(dialog, "De-identify before sending (the node gets de-identified "
                                     "copies)"))  # fmt: skip
        assert options.isEnabled()
        tick(qtbot, options)
        press_ok(qtbot, dialog)

    edit_the_demo_node(qtbot, window, prompter, set_deid)
    node = load_config(demo.home).nodes[DEMO_NODE]
    assert node.deid and node.deid_options == ("retain-uids",)
    assert node.tls and node.identity  # what the dialog does not change is kept

    open_demo(qtbot, window, prompter, demo)
    shown: list[str] = []

    def fixed_on(dialog: QDialog) -> None:
        deid = checkbox(dialog, DEID_TEXT)
        assert deid.isChecked() and not deid.isEnabled()  # this node never gets originals
        shown.append(dialog.how.text())  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", fixed_on)
    received = send_study(qtbot, window, demo)
    assert "options: retain-uids" in shown[0]
    originals = {
        pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID for p in media_files(demo)
    }
    copies = [pydicom.dcmread(p, stop_before_pixels=True) for p in received]
    assert len(copies) == 24 and {c.StudyInstanceUID for c in copies} <= originals
    assert all(c.PatientIdentityRemoved == "YES" for c in copies)
    no_unexpected_errors(prompter)


def test_a_node_whose_recipient_is_a_ca_is_refused_before_anything_is_queued(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    """The originals would be encrypted for a CA: refused as `deid --recipient` refuses it."""
    ca = tmp_path / "demo-ca.pem"
    ca.write_text(window.services.keystore.trusted()[0].pem)
    edit_node(demo.home, DEMO_NODE, deid=True, deid_recipient=str(ca))
    open_demo(qtbot, window, prompter, demo)
    study = study_index(window)
    click_row(qtbot, window.browser.view, study)
    prompter.answer("confirm", True)  # the send confirmation, with its box fixed on
    drop_on_node(window, window.browser.model.mimeData([study]), DEMO_NODE)
    [(title, message, _)] = [e for e in prompter.errors if e[0].startswith("Cannot send")]
    assert title == f"Cannot send to {DEMO_NODE}"
    assert message.startswith("refused recipient CN=DICOM Courier Demo CA") and message.endswith(
        ": it is a CA certificate, not a recipient's"
    )
    assert not window.transfers.rows and TransferQueue(demo.home / "queue.sqlite").jobs() == []
    no_unexpected_errors(prompter)
