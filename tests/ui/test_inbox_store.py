"""The Inbox tab shows the local store from its index: what File ▸ Import into Inbox… copies
appears there, and an imported study opens in the viewer."""

import shutil
from pathlib import Path

from desktop.demo import Demo
from desktop.ui.main_window import MainWindow
from tests.helpers import sample_file
from tests.ui.clicking import click, tool_button
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import click_row


def test_an_imported_study_appears_in_the_inbox_and_opens(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    inbox = window.sources.inbox
    [show] = [
        a for a in window.findChildren(type(window.viewer.play_action)) if a.text() == "Show &Inbox"
    ]
    click(qtbot, tool_button(window, show))
    qtbot.waitUntil(lambda: "empty" in inbox.title.text(), timeout=20000)
    assert inbox.tree is not None and inbox.tree.patients == []

    prompter.answer("open_folder", demo.media)
    [action] = [
        a
        for a in window.findChildren(type(window.viewer.play_action))
        if a.text() == "I&mport into Inbox…"
    ]
    click(qtbot, tool_button(window, action))
    qtbot.waitUntil(lambda: inbox.tree is not None and len(inbox.tree.patients) == 3, timeout=60000)
    assert window.sources.currentWidget() is inbox
    assert "indexed store" in inbox.title.text() and "50 image(s)" in inbox.title.text()
    assert any("50 copied, 0 already there" in e.summary for e in window.log.entries)
    assert inbox.tree is not None
    names = [p.patient_name for p in inbox.tree.patients]
    assert names == ["Demo^Alice", "Demo^Bob", "Demo^Carol"]
    assert all(str(i.path).startswith(str(demo.home / "inbox")) for i in inbox.tree.instances())

    alice_ct = inbox.model.index(0, 0, inbox.model.index(0, 0))
    with qtbot.waitSignal(window.viewer.image_shown, timeout=20000):
        click_row(qtbot, inbox.view, alice_ct)
    assert window.viewer.selection is not None
    assert window.viewer.selection.series.modality == "CT"

    # Importing again copies nothing and the tree stays as it was.
    prompter.answer("open_folder", demo.media)
    click(qtbot, tool_button(window, action))
    qtbot.waitUntil(
        lambda: any("0 copied, 50 already there" in e.summary for e in window.log.entries),
        timeout=60000,
    )
    assert len(list((demo.home / "inbox").rglob("*.dcm"))) == 50


def test_an_import_of_a_study_uid_of_two_patients_is_logged_and_kept_apart(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    folder = tmp_path / "cd1"
    folder.mkdir()
    shutil.copy(sample_file("CT_small.dcm"), folder / "ct.dcm")
    foreign = pydicom.dcmread(folder / "ct.dcm")
    foreign.PatientID, foreign.PatientName = "OTHER-42", "Other^Patient"
    foreign.SOPInstanceUID = foreign.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    foreign.save_as(folder / "aa_other.dcm", enforce_file_format=True)
    prompter.answer("open_folder", folder)
    [action] = [
        a
        for a in window.findChildren(type(window.viewer.play_action))
        if a.text() == "I&mport into Inbox…"
    ]
    click(qtbot, tool_button(window, action))
    inbox = window.sources.inbox
    qtbot.waitUntil(lambda: inbox.tree is not None and len(inbox.tree.patients) == 2, timeout=60000)
    assert any("holds instances of 2 patients" in e.summary for e in window.log.entries)
    assert inbox.tree is not None
    assert [p.studies[0].instance_count for p in inbox.tree.patients] == [1, 1]
    assert "holds instances of 2 patients" in inbox.tree.problems[0].reason
