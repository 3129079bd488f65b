"""The browsers with their controller alone: a folder chosen in the file dialog opens in the
Media tab, a clicked series is shown in the viewer, the folder is offered again under Open
recent (and opens from there), Show Inbox never replaces the media."""

from pathlib import Path

from PySide6.QtCore import Qt

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.ui.media_controller import MediaController
from desktop.ui.shell import Shell
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.viewer import ViewerPanel
from tests.ui.scripted import ScriptedPrompter


def test_open_show_remember_and_reopen_by_clicking(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    statuses: list[str],
    tmp_path: Path,
) -> None:
    study = StudySpec("M1", "Media^Test", "20240101", "head", (SeriesSpec("CT", "ax", 3, 16, 16),))
    write_files(tmp_path / "media", (study,))
    sources, viewer = SourcesPanel(shell.services.inbox, shell.services.store), ViewerPanel()
    for widget in (sources, viewer):
        qtbot.addWidget(widget)
    sources.show()
    controller = MediaController(shell, sources, viewer)
    assert controller.recent_menu.actions() == []

    prompter.answer("open_folder", tmp_path / "media")
    controller.open_folder()
    assert statuses[0] == f"Opening {tmp_path / 'media'} …"
    browser = sources.media
    qtbot.waitUntil(lambda: browser.tree is not None, timeout=20000)
    [recent] = controller.recent_menu.actions()
    assert recent.text() == str(tmp_path / "media")

    view, model = browser.view, browser.model
    view.expandAll()
    series = model.index(0, 0, model.index(0, 0, model.index(0, 0)))
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(series).center()
    )
    qtbot.waitUntil(lambda: viewer.selection is not None, timeout=10000)
    assert viewer.selection.series.series_description == "ax"  # type: ignore[union-attr]

    controller.open_inbox()
    assert sources.currentWidget() is sources.inbox and browser.tree is not None
    first = browser.tree
    recent.trigger()
    assert sources.currentWidget() is browser
    qtbot.waitUntil(lambda: browser.tree is not first, timeout=20000)
    assert [a.text() for a in controller.recent_menu.actions()] == [str(tmp_path / "media")]
    viewer.close_threads()
