"""File ▸ Re-identify… (and the browser's menu): the original values kept encrypted in the
selected de-identified images restored with one of the keystore's identities, as ``dicom-courier
reid`` restores them (desktop.reidentify), into copies in a folder, then shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.outputs import FileOutcome
from desktop.core.words import counted
from desktop.ui.identity_jobs import IdentityJob, IdentityJobController
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


class ReidController(IdentityJobController):
    text = "Re-identi&fy…"
    tip = "Restore the original values kept encrypted for you in de-identified images"

    def start(self) -> GeneratorWorker | None:
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
        return self.run_job(job, files, browser.tree.root)
