"""Sealed files on media (secure DICOM files, PS3.10 §7.4): the browser lists them among its
problems as sealed, offers to open them when media holding some are opened, and File ▸ Open
sealed files… does it at any time: opened as ``dicom-courier unseal`` opens them
(desktop.sealing) with one of the keystore's identities, into a folder, then shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.dicomdir import SEALED_DICOMDIR
from desktop.core.header import SEALED
from desktop.core.model import MediaTree
from desktop.core.outputs import FileOutcome
from desktop.core.words import counted
from desktop.ui.identity_jobs import IdentityJob, IdentityJobController
from desktop.ui.shell import Shell
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.workers import GeneratorWorker

if TYPE_CHECKING:  # the CMS and signature checks are not needed to show the window
    from desktop.security.keystore import Keystore, UnlockedIdentity


def sealed_files(tree: MediaTree | None) -> list[Path]:
    """The files of ``tree`` found sealed, its DICOMDIR too (unsealed, the folder opens as
    DICOMDIR media again, as `unseal` makes it)."""
    if tree is None:
        return []
    return [p.path for p in tree.problems if p.reason.startswith((SEALED, SEALED_DICOMDIR))]


def _unseal(
    jobs: list[tuple[Path, Path]], identity: UnlockedIdentity, keystore: Keystore
) -> Iterator[FileOutcome]:
    from desktop.sealing import unseal_files
    from desktop.signing import trust_of

    return unseal_files(
        jobs,
        identity,
        trust_of(keystore, []),
        holders=keystore.identities(),
        advice="open it with identity {name} instead",
    )


class SealedController(IdentityJobController):
    text = "Open &sealed files…"
    tip = "Decrypt the sealed files of the media shown with one of your identities"

    def __init__(
        self, shell: Shell, sources: SourcesPanel, open_path: Callable[[Path], Any]
    ) -> None:
        super().__init__(shell, sources, open_path)
        sources.media.loaded.connect(self._offer)

    def _offer(self, tree: MediaTree) -> None:
        found = sealed_files(tree)
        if found and self.shell.prompter.confirm(
            "Sealed files",
            f"{counted(len(found), 'file')} in {tree.root} "
            f"{'are' if len(found) != 1 else 'is'} sealed: encrypted for one recipient. Open "
            "them with one of your identities?",
        ):
            self.start()

    def start(self) -> GeneratorWorker | None:
        """Open the sealed files of the media shown with one of the user's identities."""
        tree = self.sources.media.tree
        found = sealed_files(tree)
        if tree is None or not found:
            self.shell.status("No sealed files in the media shown")
            return None
        count = counted(len(found), "sealed file")
        job = IdentityJob(
            "Open sealed files",
            f"{count} in {tree.root}: each is encrypted for one recipient. They are decrypted "
            "with your identity, their signature or digest checked, and the DICOM files "
            "inside written to a folder, then shown.",
            "Open",
            "opened",
            _unseal,
            "unseal/folder",
        )
        return self.run_job(job, found, tree.root)
