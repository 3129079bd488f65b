"""Sealed files on media (secure DICOM files, PS3.10 §7.4): the browser lists them among its
problems as sealed, offers to open them when media holding some are opened, and File ▸ Open
sealed files… does it at any time: opened as ``dicom-courier unseal`` opens them
(desktop.sealing) with one of the keystore's identities, into a folder, then shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.dicomdir import SEALED_DICOMDIR
from desktop.core.errors import CourierError
from desktop.core.header import SEALED
from desktop.core.model import MediaTree
from desktop.core.outputs import FileOutcome
from desktop.core.words import counted
from desktop.ui.actions import tipped_action
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
    jobs: list[tuple[Path, Path]],
    identity: UnlockedIdentity,
    keystore: Keystore,
    *,
    require_signed: bool,
) -> Iterator[FileOutcome]:
    from desktop.sealing import unseal_files
    from desktop.signing import trust_of

    return unseal_files(
        jobs,
        identity,
        trust_of(keystore, []),
        require_signed=require_signed,
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
        self.require_signed_action = tipped_action(
            shell.window,
            "Require &signed sealed files",
            "Refuse sealed files no trusted signature authenticates (only a digest protects "
            "them: anyone holding your certificate can make one); off, they open with a warning",
            self.require_signed,
        )
        self.require_signed_action.setCheckable(True)
        self.require_signed_action.setChecked(self._signature_required())
        sources.media.loaded.connect(self._offer)

    def _signature_required(self) -> bool:
        """The configuration's setting; on when it cannot be read (the safer way to err)."""
        from desktop.sealing import signature_required

        try:
            return signature_required(self.shell.services.home)
        except CourierError:
            return True

    def require_signed(self, required: bool) -> None:
        """Save Settings ▸ Require signed sealed files as ticked, as `dicom-courier settings
        --require-signed-sealed on|off` does."""
        from desktop.sealing import require_signature

        try:
            require_signature(self.shell.services.home, required)
        except CourierError as error:
            self.shell.show_error("Require signed sealed files", str(error))
            self.require_signed_action.setChecked(self._signature_required())
            return
        self.shell.status(
            "Unsigned sealed files are refused"
            if required
            else "Unsigned sealed files open with a NOT SIGNED warning"
        )

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
        required = self._signature_required()
        self.require_signed_action.setChecked(required)  # changed by the CLI meanwhile
        job = IdentityJob(
            "Open sealed files",
            f"{count} in {tree.root}: each is encrypted for one recipient. They are decrypted "
            "with your identity, their signature or digest checked, and the DICOM files "
            "inside written to a folder, then shown."
            + (" Files that are not signed are refused (Settings)." if required else ""),
            "Open",
            "opened",
            partial(_unseal, require_signed=required),
            "unseal/folder",
        )
        return self.run_job(job, found, tree.root)
