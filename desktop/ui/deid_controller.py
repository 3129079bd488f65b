"""File ▸ De-identify… (and the browser's menu): asks how to de-identify the selection
(DeidDialog), then makes the copies as ``dicom-courier deid`` does (``DeidRun``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from desktop.core.words import counted
from desktop.ui.actions import tipped_action
from desktop.ui.deid_run import DeidRun
from desktop.ui.shell import Shell
from desktop.ui.widgets.deidentify import DeidDialog
from desktop.ui.widgets.recipient import keystore_certificates
from desktop.ui.widgets.sources import SourcesPanel


class DeidController(QObject):
    """The De-identify… action: asks how (DeidDialog), then runs a ``DeidRun``."""

    def __init__(self, shell: Shell, sources: SourcesPanel, open_path: Callable[[Path], Any]):
        super().__init__(shell.window)
        self.shell, self.sources, self.open_path = shell, sources, open_path
        self.action = tipped_action(
            shell.window,
            "De-ide&ntify…",
            "Write de-identified copies of the selected patients, studies or series",
            self.deidentify,
            shortcut="Ctrl+Shift+D",
        )
        self.run: DeidRun | None = None  # the last one (a connection does not keep it alive)

    def deidentify(self) -> DeidRun | None:
        """Ask how to de-identify the selected images, then write the copies (a ``DeidRun``)."""
        browser = self.sources.current_browser()
        files = browser.readable_selection()
        if not files:
            self.shell.status("Select a patient, a study or a series to de-identify first")
            return None
        prompter, settings = self.shell.prompter, self.shell.settings
        dialog = DeidDialog(
            f"the {counted(len(files), 'selected image')}",
            keystore_certificates(self.shell.services.keystore, cas=True),
            prompter.open_folder,
            prompter.open_file,
            folder=str(settings.value("deid/folder") or ""),
            parent=self.shell.window,
        )
        if not prompter.run(dialog):
            return None
        choice = dialog.choice()
        settings.setValue("deid/folder", str(choice.out))
        self.run = DeidRun(self.shell, files, choice, self.open_path)
        self.run.finished.connect(self.run.deleteLater)
        self.run.start()
        return self.run
