"""Work done on files with one of the keystore's identities (open sealed files, re-identify):
the identity and an output folder asked, the key opened and the files done on a worker with
progress and Cancel, a summary naming each file not done and why, what was made shown."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QProgressDialog

from desktop import auditing
from desktop.core.outputs import FileOutcome
from desktop.ui.actions import tipped_action
from desktop.ui.shell import Shell
from desktop.ui.widgets.identity_folder import IdentityFolderDialog
from desktop.ui.workers import GeneratorWorker, start

if TYPE_CHECKING:
    from desktop.security.keystore import Keystore, UnlockedIdentity
    from desktop.ui.widgets.sources import SourcesPanel


@runtime_checkable
class Doubted(Protocol):
    """An outcome that may be made with a doubt to say (a sealed file opened unsigned)."""

    @property
    def warning(self) -> str: ...


#: Does ``(file, target)`` jobs with an unlocked identity and the keystore (on the worker).
Work = Callable[[list[tuple[Path, Path]], "UnlockedIdentity", "Keystore"], Iterator[FileOutcome]]


@dataclass(frozen=True, slots=True)
class IdentityJob:
    title: str  #: the dialog's and the summary's title: "Open sealed files"
    intro: str  #: what will be done, in the dialog
    ok_text: str  #: the dialog's OK button: "Open"
    done: str  #: what a file done is: "opened"
    work: Work
    setting: str  #: the settings key remembering the folder last chosen


class IdentityJobController(QObject):
    """A File-menu action (the class's ``text`` and ``tip``) that does an ``IdentityJob`` on
    files of the sources panel (``start``), then shows what it made with ``open_path``."""

    text: ClassVar[str]
    tip: ClassVar[str]

    def __init__(
        self, shell: Shell, sources: SourcesPanel, open_path: Callable[[Path], Any]
    ) -> None:
        super().__init__(shell.window)
        self.shell, self.sources, self.open_path = shell, sources, open_path
        self.action = tipped_action(shell.window, self.text, self.tip, self.start)

    def start(self) -> GeneratorWorker | None:
        """Do the job on the files it is for; None when there are none or it was cancelled."""
        raise NotImplementedError

    def run_job(self, job: IdentityJob, files: list[Path], root: Path) -> GeneratorWorker | None:
        """``run_identity_job`` of ``files`` found under ``root``."""
        return run_identity_job(self.shell, job, files, root, self.open_path)


def run_identity_job(
    shell: Shell,
    job: IdentityJob,
    files: list[Path],
    root: Path,
    open_path: Callable[[Path], Any],
) -> GeneratorWorker | None:
    """Ask for the identity and the folder, then do ``files`` (found under ``root``, whose
    layout the folder keeps) on a worker; None when there is no identity or it was cancelled."""
    keystore = shell.services.keystore
    identities = [identity.name for identity in keystore.identities()]
    if not identities:
        shell.show_error(
            f"{job.title}: no identity",
            "The keystore holds no identity: import the recipient's identity (Certificates ▸ "
            "Import identity…) first.",
        )
        return None
    dialog = IdentityFolderDialog(
        job.title,
        job.intro,
        root,
        identities,
        shell.prompter.open_folder,
        ok_text=job.ok_text,
        folder=str(shell.settings.value(job.setting) or ""),
        parent=shell.window,
    )
    if not shell.prompter.run(dialog):
        return None
    out, name = dialog.folder(), dialog.identity.currentText()
    shell.settings.setValue(job.setting, str(out))
    keystore.take_password()  # asked here, on the GUI thread; the key opens on the worker
    jobs = [(path, out / relative(path, root)) for path in files]

    def work() -> Iterator[FileOutcome]:
        return job.work(jobs, auditing.unlock(keystore, name), keystore)

    return run_file_jobs(
        shell,
        job.title,
        job.done,
        len(jobs),
        work,
        f"with {name} into {out}",
        lambda: open_path(out),
    )


def run_file_jobs(
    shell: Shell,
    title: str,
    done: str,
    count: int,
    work: Callable[[], Iterator[FileOutcome]],
    where: str,
    show: Callable[[], Any] | None = None,
) -> GeneratorWorker:
    """Do ``count`` files with ``work`` on a worker, with progress and Cancel; then say how
    many were ``done`` ``where`` (each other one with its reason) and ``show`` them."""
    progress = QProgressDialog(f"{title}…", "Cancel", 0, count, shell.window)
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    outcomes: list[FileOutcome] = []

    def generator() -> Generator[FileOutcome, None, None]:
        yield from work()

    worker = GeneratorWorker(generator)

    def one(outcome: FileOutcome) -> None:
        outcomes.append(outcome)
        progress.setValue(len(outcomes))

    def close() -> None:
        progress.canceled.disconnect(worker.cancel)
        progress.close()
        progress.deleteLater()

    def finished(*_: object) -> None:
        close()
        made = [o for o in outcomes if o.target is not None]
        problems = [f"{o.source}: not {done}: {o.error}" for o in outcomes if o.target is None]
        doubted = [o for o in made if isinstance(o, Doubted) and o.warning]
        text = f"{len(made)} of {count} files {done} {where}."
        if len(outcomes) < count:
            text += f" Cancelled: {count - len(outcomes)} not {done}."
        if problems:
            text += f" {len(problems)} could not be {done} (see the details)."
        if doubted:
            text += f" {len(doubted)} {done} with a warning: {doubted[0].warning}."
        shell.status(text)
        details = problems + [f"{o.source}: {o.warning}" for o in doubted]
        shell.prompter.inform(title, text, "\n".join(details), warning=bool(details))
        if made and show is not None:
            show()

    def failed(error: Exception) -> None:
        close()
        shell.report(title, error)

    progress.canceled.connect(worker.cancel)
    worker.signals.yielded.connect(one)
    worker.signals.returned.connect(finished)
    worker.signals.aborted.connect(finished)
    worker.signals.errored.connect(failed)
    return start(worker)


def relative(path: Path, root: Path) -> Path:
    """Where ``path`` lies under ``root`` (its name alone when it lies elsewhere)."""
    return path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
