"""File ▸ Export to CD/USB… writes the browser's selection as media with a DICOMDIR."""

from pathlib import Path

from desktop.core.media import open_media
from desktop.core.synthetic import write_media
from desktop.ui.main_window import MainWindow
from tests.ui.scripted import ScriptedPrompter


def test_export_to_cd_usb_writes_the_selected_study(
    qtbot, window: MainWindow, prompter: ScriptedPrompter, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    write_media(tmp_path / "source")
    window.opening.open_path(tmp_path / "source")
    qtbot.waitUntil(lambda: window.browser.tree is not None, timeout=30000)
    window.browser.select_first(1)  # the first patient's first study
    [study] = [window.browser.tree.patients[0].studies[0]]  # type: ignore[union-attr]
    prompter.answer("open_folder", tmp_path / "cd")
    [action] = [a for a in window.menuBar().actions()[0].menu().actions() if "CD/USB" in a.text()]

    action.trigger()
    qtbot.waitUntil(lambda: "Wrote" in window.statusBar().currentMessage(), timeout=30000)

    written = open_media(tmp_path / "cd")
    assert written.source == "dicomdir" and written.problems == []
    [patient] = written.patients
    assert [s.study_instance_uid for s in patient.studies] == [study.study_instance_uid]
    assert patient.studies[0].instance_count == study.instance_count
    assert f"Wrote {study.instance_count} instances" in window.statusBar().currentMessage()
