"""Instances received, gathered per sender and study: one 110104 message for what a sender
delivered of a study, not one per instance (and one log write instead of hundreds)."""

import threading
from collections.abc import Callable

from desktop.core.audit.events import Node, Study

QUIET = 2.0  # seconds without a new instance after which a delivery counts as complete


class Receipts:
    """Hands each (sender, study) batch to ``report`` once every sender has been quiet for
    ``quiet`` seconds, or at ``close``."""

    def __init__(self, report: Callable[[Node, Study], None], *, quiet: float = QUIET) -> None:
        self.report = report
        self.quiet = quiet
        self._pending: dict[tuple[Node, str, str], Study] = {}  # sender, study, patient
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, sender: Node, study: Study) -> None:
        with self._condition:
            known = self._pending.setdefault(  # a study UID of two patients: two studies
                (sender, study.study_uid, study.patient_id),
                Study(study.study_uid, study.patient_id, study.patient_name, study.accession),
            )
            known.sop_classes.update(study.sop_classes)
            self._condition.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._wait, daemon=True, name="receipts")
                self._thread.start()

    def close(self) -> None:
        """Report everything gathered so far, now."""
        with self._condition:
            batch, self._pending = self._pending, {}
        self._report(batch)

    def _wait(self) -> None:
        while True:
            with self._condition:
                if self._condition.wait(self.quiet):
                    continue  # another instance came: wait for quiet again
                batch, self._pending = self._pending, {}
                self._thread = None
            self._report(batch)
            return

    def _report(self, batch: dict[tuple[Node, str, str], Study]) -> None:
        for (sender, *_), study in batch.items():
            self.report(sender, study)
