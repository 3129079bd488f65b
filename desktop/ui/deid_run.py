"""One de-identification from the GUI: the copies made as ``dicom-courier deid`` makes them
(desktop.deidentify) on workers, with progress and Cancel.

Without burned-in text the copies are written at once. Otherwise the images are searched
first; with review, each flagged image comes back to the GUI thread, one at a time, for a
person to add, move or remove its boxes (the search goes on meanwhile); then the copies are
written with the boxes as left, and a summary says what was done."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QProgressDialog

from desktop.core.errors import CourierError
from desktop.core.words import counted
from desktop.ui.shell import Shell
from desktop.ui.widgets.deidentify import PIXELS, DeidChoice, DeidSummary
from desktop.ui.workers import GeneratorWorker, start

if TYPE_CHECKING:  # pydicom and the OCR are not needed to show the window
    from desktop.core.deid.batch import Copied
    from desktop.core.deid.boxes import Box
    from desktop.deidentify import Searched

NOT_REVIEWED = "its burned-in text was not reviewed (Cancel in the review): no copy made"


class DeidRun(QObject):
    """One de-identification: search (unless ``off``), review (``review``), write, summary."""

    finished = Signal()

    def __init__(
        self,
        shell: Shell,
        files: list[Path],
        choice: DeidChoice,
        open_path: Callable[[Path], Any],
    ) -> None:
        super().__init__(shell.window)
        self.shell, self.files, self.choice, self.open_path = shell, files, choice, open_path
        self.searched: dict[Path, Searched] = {}
        self.given: dict[str, Sequence[Box]] = {}  #: the boxes to mask by original UID
        self.to_review: deque[Searched] = deque()
        self.problems: dict[Path, str] = {}
        self.written: list[Copied] = []
        #: copies whose pixels, not searched, may hold burned-in text: the header's signs
        self.unsearched: dict[Path, tuple[str, ...]] = {}
        self.worker: GeneratorWorker | None = None
        self.searching = self.reviewing = self.writing = self.cancelled = self.done = False
        steps = len(files) * (1 if choice.pixels == "off" else 2)
        self.progress = QProgressDialog("De-identifying…", "Cancel", 0, steps, shell.window)
        self.progress.setWindowTitle("De-identify")
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.progress.setMinimumDuration(0)
        self.progress.canceled.connect(self.cancel)

    def start(self) -> None:
        """Search the images for burned-in text first when asked to, else write the copies."""
        if self.choice.pixels == "off":
            self._write(self.files)
            return
        from desktop.deidentify import search

        self.searching = True
        self.progress.setLabelText("Searching the images for burned-in text…")
        files = self.files
        self._run(GeneratorWorker(lambda: search(files)), self._searched, self._search_done)

    def cancel(self) -> None:
        """Stop between two files: what was written stays, the rest is not made."""
        self.cancelled = True
        self.to_review.clear()
        if self.worker is not None:
            self.worker.cancel()  # aborted: the summary follows
        elif not self.reviewing:
            self._finish()

    def _run(
        self,
        worker: GeneratorWorker,
        yielded: Callable[[Any], None],
        returned: Callable[[Any], None],
    ) -> None:
        worker.signals.yielded.connect(yielded)
        worker.signals.returned.connect(returned)
        worker.signals.errored.connect(self._failed)
        worker.signals.aborted.connect(self._finish)
        self.worker = start(worker)

    def _step(self) -> None:
        """One more file done. A modal progress dialog handles the events waiting (the next
        record, the end): callers step once their record is taken into account."""
        self.progress.setValue(self.progress.value() + 1)

    def _searched(self, found: Searched) -> None:
        if found.finding is None:
            self.problems[found.source] = found.error
        else:
            self.searched[found.source] = found
            if self.choice.pixels == "review" and found.finding.triage.flagged:
                self.to_review.append(found)
            else:
                self.given[found.uid] = found.finding.boxes
        self._step()
        self._review()

    def _review(self) -> None:
        """Show the images waiting for review one at a time (a search record arriving while
        a review is open only joins the queue)."""
        if self.reviewing or not self.to_review:
            return
        from desktop.ui.pixel_review import reviewer

        review = reviewer(self.shell.prompter)
        self.reviewing = True
        try:
            while self.to_review and not self.cancelled:
                found = self.to_review.popleft()
                assert found.finding is not None
                try:
                    boxes = review(found.source, found.finding)
                except CourierError as error:
                    self.problems[found.source] = str(error)
                    continue
                if boxes is None:
                    self.problems[found.source] = NOT_REVIEWED
                    self._stop_or_go_on(found.source)
                else:
                    self.given[found.uid] = boxes
        finally:
            self.reviewing = False
        self._write_when_ready()

    def _stop_or_go_on(self, skipped: Path) -> None:
        """After a cancelled review: stop everything, or go on without that image."""
        if self.shell.prompter.confirm(
            "Review cancelled",
            f"{skipped.name} will not be copied. Stop de-identifying the other images too? "
            "(No: go on without this one.)",
        ):
            self.cancel()

    def _search_done(self, _: object) -> None:
        self.searching = False
        self.worker = None
        self._write_when_ready()

    def _write_when_ready(self) -> None:
        if self.cancelled:
            if self.worker is None:
                self._finish()
            return
        if self.searching or self.reviewing or self.to_review or self.writing:
            return
        self._write([s.source for s in self.searched.values() if s.uid in self.given])

    def _write(self, files: list[Path]) -> None:
        from desktop.core.deid.pixels import PixelPolicy
        from desktop.deidentify import copies, with_signs

        self.writing = True
        self.progress.setLabelText("Writing the de-identified copies…")
        self.progress.setValue(self.progress.maximum() - len(files))
        choice = self.choice
        pixels = None if choice.pixels == "off" else PixelPolicy(given=dict(self.given))
        recipient = choice.recipient.certificate() if choice.recipient is not None else None

        keystore = self.shell.services.keystore

        def made() -> Any:
            if recipient is not None:
                from desktop.sealing import recipient_certificate

                recipient_certificate(recipient, keystore)  # refused as the CLI refuses it
            made = copies(
                files,
                choice.out,
                options=choice.options,
                key_file=choice.key_file,
                recipient=recipient,
                pixels=pixels,
            )
            return with_signs(made, searched=pixels is not None)

        self._run(GeneratorWorker(made), self._written, self._finish)

    def _written(self, outcome: tuple[Copied, tuple[str, ...]]) -> None:
        done, signs = outcome
        if done.copy is None:
            self.problems[done.source] = done.error
        else:
            self.written.append(done)
            if signs:
                self.unsearched[done.source] = signs
        self._step()

    def _failed(self, error: Exception) -> None:
        if self.done:
            return
        self._close()
        self.shell.report("De-identify", error)
        self.finished.emit()

    def _close(self) -> None:
        self.done = True
        self.worker = None
        self.progress.canceled.disconnect(self.cancel)
        self.progress.close()
        self.progress.deleteLater()

    def _finish(self, *_: object) -> None:
        if self.done:
            return
        self._close()
        out = self.choice.out
        text = self.summary()
        self.shell.status(text.split("\n")[0])

        def open_folder() -> None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(out)))

        summary = DeidSummary(
            text,
            [_problem(source, error) for source, error in self.problems.items()]
            + [
                f"{source}: its pixels may hold burned-in text ({', '.join(signs)}); not searched"
                for source, signs in self.unsearched.items()
            ],
            open_folder,
            lambda: self.open_path(out),
            self.shell.window,
        )
        self.shell.prompter.run(summary)
        self.finished.emit()

    def masked(self) -> int:
        """How many copies written had burned-in text masked."""
        uids = {s.source: s.uid for s in self.searched.values()}
        return sum(1 for done in self.written if self.given.get(uids.get(done.source, "")))

    def summary(self) -> str:
        """What was done, in words."""
        written, choice = len(self.written), self.choice
        lines = [
            f"{written} de-identified {'copy' if written == 1 else 'copies'} written to "
            f"{choice.out}."
        ]
        if choice.pixels == "off":
            lines.append("Burned-in text was not searched: the pixels are as they were.")
            at_risk = len(self.unsearched)
            if at_risk:
                lines.append(
                    f"{at_risk} of them may hold burned-in text (listed below): ultrasound, "
                    "screen captures and the like often carry the patient's name, ID or dates "
                    "in the image itself, and these copies still do. De-identify them again "
                    f'with "{PIXELS["auto"]}" (or review the text found first).'
                )
        else:
            lines.append(f"Burned-in text masked in {self.masked()} of them.")
        if choice.recipient is not None and written:
            lines.append(
                f"The original values are kept encrypted for {choice.recipient.name}: only "
                "its holder can re-identify the copies."
            )
        left = len(self.files) - written - len(self.problems)
        if self.cancelled and left > 0:
            lines.append(f"Cancelled: {left} of {len(self.files)} files were not de-identified.")
        if self.problems:
            lines.append(f"{counted(len(self.problems), 'file')} not de-identified:")
        return "\n".join(lines)


def _problem(source: Path, error: str) -> str:
    """One file's problem, naming the file once."""
    return error if error.startswith(str(source)) else f"{source}: {error}"
