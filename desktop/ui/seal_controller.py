"""File ▸ Seal… (and the browser's menu): the selected images sealed for one recipient as
``dicom-courier seal`` seals them (desktop.sealing), on a worker, into a folder."""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import QObject

from desktop.core.outputs import FileOutcome
from desktop.core.words import counted
from desktop.ui.actions import tipped_action
from desktop.ui.identity_jobs import relative, run_file_jobs
from desktop.ui.shell import Shell
from desktop.ui.widgets.recipient import keystore_certificates
from desktop.ui.widgets.seal import SealDialog
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.workers import GeneratorWorker


class SealController(QObject):
    def __init__(self, shell: Shell, sources: SourcesPanel) -> None:
        super().__init__(shell.window)
        self.shell, self.sources = shell, sources
        self.action = tipped_action(
            shell.window,
            "Sea&l…",
            "Encrypt the selected images for one recipient (secure DICOM files)",
            self.seal,
        )

    def seal(self) -> GeneratorWorker | None:
        """Ask for the recipient, the signer and the folder, then seal the selected images."""
        browser = self.sources.current_browser()
        files = browser.readable_selection()
        if browser.tree is None or not files:
            self.shell.status("Select a patient, a study or a series to seal first")
            return None
        root = browser.tree.root
        shell, keystore = self.shell, self.shell.services.keystore
        identities = keystore.identities()
        dialog = SealDialog(
            f"the {counted(len(files), 'selected image')}",
            root,
            keystore_certificates(keystore),
            [i.name for i in identities],
            shell.prompter.open_folder,
            shell.prompter.open_file,
            folder=str(shell.settings.value("seal/folder") or ""),
            parent=shell.window,
        )
        if not shell.prompter.run(dialog):
            return None
        out, recipient, signed_by = dialog.folder(), dialog.recipient(), dialog.signed_by()
        shell.settings.setValue("seal/folder", str(out))
        if signed_by is not None:
            keystore.take_password()  # asked here, on the GUI thread; the key opens on the worker
        jobs = [(path, out / relative(path, root)) for path in files]
        certificate = recipient.certificate()

        def work() -> Iterator[FileOutcome]:
            from desktop.sealing import recipient_certificate, seal_files, signer_of

            signer = signer_of(keystore, signed_by) if signed_by is not None else None
            checked = recipient_certificate(certificate, keystore)
            return seal_files(jobs, checked.certificate, signer)

        return run_file_jobs(
            shell, "Seal", "sealed", len(jobs), work, f"for {recipient.name} into {out}"
        )
