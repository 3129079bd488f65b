"""The browser panels (Media and Inbox tabs): opening folders, DICOMDIRs and the Inbox, the
recent list, showing the selection in the viewer, writing the selection to CD/USB."""

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu

from desktop.ui.actions import menu_text
from desktop.ui.inbox_import import import_into_inbox
from desktop.ui.media_export import export_to_media
from desktop.ui.shell import Shell
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.viewer import ViewerPanel
from desktop.ui.workers import GeneratorWorker

MAX_RECENT = 8


class MediaController(QObject):
    def __init__(self, shell: Shell, sources: SourcesPanel, viewer: ViewerPanel) -> None:
        super().__init__(shell.window)
        self.shell, self.sources, self.viewer = shell, sources, viewer
        self.browser = sources.media
        self.recent_menu = QMenu("Open &recent", shell.window)
        for browser in sources.browsers():
            browser.selected.connect(viewer.show_selection)
            browser.failed.connect(lambda message: shell.status(f"Nothing opened: {message}"))
            browser.failed.connect(lambda message: shell.show_error("Cannot open", message))
            browser.status.connect(shell.status)
        self.browser.loaded.connect(lambda tree: self._remember(tree.root))
        viewer.error.connect(shell.status)
        self._fill_recent()

    def export_to_media(self) -> GeneratorWorker | None:
        shell = self.shell
        browser = self.sources.current_browser()
        return export_to_media(shell.window, browser, shell.prompter, shell.status, shell.report)

    def open_path(self, path: Path) -> GeneratorWorker:
        self.shell.status(f"Opening {path} …")
        self.sources.setCurrentWidget(self.browser)
        return self.browser.open_path(path)

    def open_folder(self) -> None:
        folder = self.shell.prompter.open_folder("Open a folder, CD or USB stick")
        if folder is not None:
            self.open_path(folder)

    def open_dicomdir(self) -> None:
        name = self.shell.prompter.open_file(
            "Open a DICOMDIR", "DICOMDIR (DICOMDIR*);;All files (*)"
        )
        if name is not None:
            self.open_path(name)

    def import_into_inbox(self) -> GeneratorWorker | None:
        shell = self.shell
        return import_into_inbox(
            shell.prompter,
            shell.services.store,
            self.sources,
            shell.status,
            lambda level, text: shell.log.add(level, "Inbox", text),
            shell.report,
        )

    def open_inbox(self) -> None:
        self.shell.services.inbox.mkdir(parents=True, exist_ok=True)
        self.sources.show_inbox()

    def _remember(self, root: Path) -> None:
        recent = [str(root)] + [p for p in self._recent() if p != str(root)]
        self.shell.settings.setValue("recent", recent[:MAX_RECENT])
        self._fill_recent()

    def _recent(self) -> list[str]:
        value = self.shell.settings.value("recent") or []
        return [str(v) for v in (value if isinstance(value, list) else [value])]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            action = self.recent_menu.addAction(menu_text(path))
            action.triggered.connect(lambda _=False, p=path: self.open_path(Path(p)))
