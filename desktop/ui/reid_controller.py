"""File ▸ Re-identify… (and the browser's menu): the original values kept encrypted in the
selected de-identified images restored with one of the keystore's identities, as ``dicom-courier
reid`` restores them (desktop.reidentify), into copies in a folder, then shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from desktop.core.outputs import FileOutcome
from desktop.core.words import counted
from desktop.ui.actions import tipped_action
from desktop.ui.identity_jobs import IdentityJob, run_identity_job
from desktop.ui.shell import Shell
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.workers import GeneratorWorker

if TYPE_CHECKING:  # pydicom and the CMS are not needed to show the window
    from desktop.security.keystore import Keystore, UnlockedIdentity


def _reidentify(
    jobs: list[tuple[Path, Path]], identity: UnlockedIdentity, keystore: Keystore
) -> Iterator[FileOutcome]:
    from desktop.reidentify import reidentify_files

    return reidentify_files(
        jobs,
        identity,
        holders=keystore.identities(),
        advice="re-identify it with identity {name} instead",
    )


class ReidController(QObject):
    def __init__(
        self, shell: Shell, sources: SourcesPanel, open_path: Callable[[Path], Any]
    ) -> None:
        super().__init__(shell.window)
        self.shell, self.sources, self.open_path = shell, sources, open_path
        self.action = tipped_action(
            shell.window,
            "Re-identi&fy…",
            "Restore the original values kept encrypted for you in de-identified images",
            self.reidentify,
        )

    def reidentify(self) -> GeneratorWorker | None:
        """Restore the selected images' original values with one of the user's identities."""
        browser = self.sources.current_browser()
        files = browser.readable_selection()
        if browser.tree is None or not files:
            self.shell.status("Select de-identified patients, studies or series first")
            return None
        count = counted(len(files), "selected image")
        job = IdentityJob(
            "Re-identify",
            f"Restore the original values the {count} keep encrypted for their recipient, "
            "with your identity. Re-identified copies are written to a folder and shown; the "
            "selected files stay as they are.",
            "Re-identify",
            "re-identified",
            _reidentify,
            "reid/folder",
        )
        return run_identity_job(self.shell, job, files, browser.tree.root, self.open_path)
