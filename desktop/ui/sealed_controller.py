"""Sealed files on media (secure DICOM files, PS3.10 §7.4): the browser lists them among its
problems as sealed, offers to open them when media holding some are opened, and File ▸ Open
sealed files… does it at any time. They are opened on a worker as ``dicom-courier unseal``
opens them (desktop.unsealing), into a folder of the person's choice, then shown."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QProgressDialog

from desktop.core.header import SEALED
from desktop.core.model import MediaTree
from desktop.security.keystore import Keystore
from desktop.ui.shell import Shell
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.unseal import UnsealDialog
from desktop.ui.workers import GeneratorWorker, start

if TYPE_CHECKING:  # the CMS and signature checks are not needed to show the window
    from desktop.unsealing import Unsealed


def sealed_files(tree: MediaTree | None) -> list[Path]:
    """The files of ``tree`` found sealed."""
    return [p.path for p in tree.problems if p.reason == SEALED] if tree is not None else []


class SealedController(QObject):
    def __init__(
        self, shell: Shell, sources: SourcesPanel, open_path: Callable[[Path], Any]
    ) -> None:
        super().__init__(shell.window)
        self.shell, self.sources, self.open_path = shell, sources, open_path
        self.action = QAction("Open &sealed files…", shell.window)
        tip = "Decrypt the sealed files of the media shown with one of your identities"
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)
        self.action.triggered.connect(self.open_sealed)
        sources.media.loaded.connect(self._offer)

    def _offer(self, tree: MediaTree) -> None:
        found = sealed_files(tree)
        if found and self.shell.prompter.confirm(
            "Sealed files",
            f"{len(found)} file{'s' if len(found) != 1 else ''} in {tree.root} "
            f"{'are' if len(found) != 1 else 'is'} sealed: encrypted for one recipient. Open "
            "them with one of your identities?",
        ):
            self.open_sealed()

    def open_sealed(self) -> GeneratorWorker | None:
        tree = self.sources.media.tree
        found = sealed_files(tree)
        if tree is None or not found:
            self.shell.status("No sealed files in the media shown")
            return None
        keystore = self.shell.services.keystore
        identities = [identity.name for identity in keystore.identities()]
        if not identities:
            self.shell.show_error(
                "Cannot open sealed files",
                "The keystore holds no identity: import the recipient's identity "
                "(Certificates ▸ Import identity…) first.",
            )
            return None
        settings = self.shell.settings
        dialog = UnsealDialog(
            len(found),
            tree.root,
            identities,
            self.shell.prompter.open_folder,
            folder=str(settings.value("unseal/folder") or ""),
            parent=self.shell.window,
        )
        if not self.shell.prompter.run(dialog):
            return None
        out, name = dialog.folder(), dialog.identity.currentText()
        settings.setValue("unseal/folder", str(out))
        keystore.take_password()  # asked here, on the GUI thread; the key opens on the worker
        jobs = [(path, out / path.relative_to(tree.root)) for path in found]
        return self._run(jobs, keystore, name, out)

    def _run(
        self, jobs: list[tuple[Path, Path]], keystore: Keystore, name: str, out: Path
    ) -> GeneratorWorker:
        progress = QProgressDialog(
            "Opening the sealed files…", "Cancel", 0, len(jobs), self.shell.window
        )
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        done: list[Unsealed] = []
        worker = GeneratorWorker(lambda: _unsealed(jobs, keystore, name))

        def one(record: Unsealed) -> None:
            done.append(record)
            progress.setValue(len(done))

        def close() -> None:
            progress.canceled.disconnect(worker.cancel)
            progress.close()
            progress.deleteLater()

        def finished(*_: object) -> None:
            close()
            self._summary(done, len(jobs), name, out)

        def failed(error: Exception) -> None:
            close()
            self.shell.report("Cannot open the sealed files", error)

        progress.canceled.connect(worker.cancel)
        worker.signals.yielded.connect(one)
        worker.signals.returned.connect(finished)
        worker.signals.aborted.connect(finished)
        worker.signals.errored.connect(failed)
        return start(worker)

    def _summary(self, done: list[Unsealed], total: int, name: str, out: Path) -> None:
        opened = [d for d in done if d.target is not None]
        problems = [f"{d.source}: not opened: {d.error}" for d in done if d.target is None]
        text = f"{len(opened)} of {total} sealed files opened with {name} into {out}."
        if len(done) < total:
            text += f" Cancelled: {total - len(done)} not opened."
        if problems:
            text += f" {len(problems)} could not be opened (see the details)."
        self.shell.status(text)
        self.shell.prompter.inform(
            "Sealed files", text, "\n".join(problems), warning=bool(problems)
        )
        if opened:
            self.open_path(out)


def _unsealed(
    jobs: list[tuple[Path, Path]], keystore: Keystore, name: str
) -> Generator[Unsealed, None, None]:
    from desktop.signing import trust_of
    from desktop.unsealing import unseal_files

    identity = keystore.unlock_identity(name)
    yield from unseal_files(jobs, identity, trust_of(keystore, []))
