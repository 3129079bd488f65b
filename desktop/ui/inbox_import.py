"""File ▸ Import into Inbox…: a folder, CD or USB stick copied into the local store on the
thread pool; the Inbox tab then shows it. A file that cannot be imported goes to the log panel
with its reason and the others go on, as with ``dicom-courier import``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.ui.prompter import Prompter
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.workers import GeneratorWorker, start

if TYPE_CHECKING:  # pydicom (~0.5 s to import) is not needed to show the window
    from desktop.core.store import Store
    from desktop.core.store.importing import Imported


def import_into_inbox(
    prompter: Prompter,
    store: Callable[[], Store],
    sources: SourcesPanel,
    status: Callable[[str], None],
    note: Callable[[str, str], None],
    report: Callable[[str, Exception], None],
) -> GeneratorWorker | None:
    """Ask for media and copy its instances into the Inbox; ``note(level, text)`` logs each
    file that failed and the summary."""
    folder = prompter.open_folder("Import into the Inbox: a folder, CD or USB stick")
    if folder is None:
        return None
    status(f"Importing {folder} into the Inbox …")
    worker = GeneratorWorker(lambda: _import(store, folder))

    def progress(imported: Imported) -> None:
        if imported.reason:
            note("warning", f"{imported.source} not imported: {imported.reason}")
        if imported.warning:
            note("warning", imported.warning)

    def finished(outcomes: list[tuple[str, int]]) -> None:
        summary = ", ".join(f"{count} {outcome}" for outcome, count in outcomes)
        text = f"Imported {folder} into the Inbox: {summary}"
        note("warning" if dict(outcomes)["failed"] else "info", text)
        status(text)
        sources.show_inbox()

    worker.signals.yielded.connect(progress)
    worker.signals.returned.connect(finished)
    worker.signals.errored.connect(lambda error: report("Import into the Inbox failed", error))
    return start(worker)


def _import(
    store: Callable[[], Store], folder: Path
) -> Generator[Imported, None, list[tuple[str, int]]]:
    """Import, yielding each file's outcome; return how many files had each outcome."""
    from desktop.core.store.importing import Outcome, import_media

    outcomes: Counter[Outcome] = Counter()
    for imported in import_media(store(), [folder]):
        outcomes[imported.outcome] += 1
        yield imported
    return [(outcome.value, outcomes[outcome]) for outcome in Outcome]
