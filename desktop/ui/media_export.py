"""File ▸ Export to CD/USB…: the browser's selection written as DICOM media, with progress.

The media is written by desktop.core.media_writer on the thread pool into a new or empty
folder (a USB stick, or the folder a CD burning tool will take); Cancel leaves nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressDialog, QWidget

from desktop import auditing
from desktop.core.model import InstanceStatus
from desktop.core.words import counted
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.browser import BrowserPanel
from desktop.ui.workers import GeneratorWorker, start

if TYPE_CHECKING:  # pydicom (~0.5 s to import) is not needed to show the window
    from desktop.core.media_writer import WriteProgress, WrittenMedia

log = logging.getLogger(__name__)


def export_to_media(
    parent: QWidget,
    browser: BrowserPanel,
    prompter: Prompter,
    status: Callable[[str], None],
    report: Callable[[str, Exception], None],
) -> GeneratorWorker | None:
    """Ask for a folder and write the selected patients, studies or series to it as media."""
    instances = [
        i for i in browser.selected_instances() if i.path and i.status is InstanceStatus.OK
    ]
    if browser.tree is None or not instances:
        status("Select a patient, a study or a series to export first")
        return None
    folder = prompter.open_folder("Export to CD/USB: choose a new or empty folder")
    if folder is None:
        return None
    from desktop.core.study_selection import media_label, study_of

    files = [i.path for i in instances if i.path is not None]
    label = media_label([browser.tree], study_of(browser.tree, instances[0].sop_instance_uid))
    dialog = QProgressDialog("Writing the media…", "Cancel", 0, len(files), parent)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    worker = GeneratorWorker(lambda: _audited(files, folder, label))
    worker.signals.yielded.connect(lambda progress: dialog.setValue(progress.done))
    dialog.canceled.connect(worker.cancel)

    def finished(media: WrittenMedia) -> None:
        dialog.close()
        for problem in media.skipped:
            log.warning("%s left off the media: %s", problem.path, problem.reason)
        for problem in media.invented:
            log.info("%s: %s", problem.path, problem.reason)
        left = f"; {len(media.skipped)} files left off (see the log)" if media.skipped else ""
        written = counted(media.instances, "instance")
        status(f"Wrote {written} with a DICOMDIR to {media.root}{left}")

    def failed(error: Exception) -> None:
        dialog.close()
        report("Export to CD/USB failed", error)

    worker.signals.returned.connect(finished)
    worker.signals.errored.connect(failed)
    return start(worker)


def _audited(
    files: list[Path], folder: Path, label: str
) -> Generator[WriteProgress, None, WrittenMedia]:
    from desktop.core.media_writer import write_media

    with auditing.exporting(files[0], folder):
        return (yield from write_media(files, folder, fileset=label))
