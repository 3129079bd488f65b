"""How each image's burned-in text is chosen for masking before its copy is made: as found
(``--pixels auto``), as a person corrected it (the GUI's review, or a review file edited and
given back), or not at all (``--pixels off``, no policy)."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from desktop.core.deid.boxes import Box
from desktop.core.deid.burned_in import Finding, find_text
from desktop.core.errors import CourierError

#: Shown the image's file and what was found, returns the boxes to mask (None: cancelled).
Review = Callable[[Path, Finding], Sequence[Box] | None]


@dataclass(frozen=True, slots=True)
class PixelPolicy:
    """Boxes found by OCR, then shown to ``review`` when given; or the ``given`` boxes of a
    review file, by original SOP Instance UID, with no OCR at all."""

    review: Review | None = None
    given: Mapping[str, Sequence[Box]] | None = None

    def boxes(self, source: Path, dataset: Dataset) -> Sequence[Box]:
        """The boxes to mask in ``source``, whose original header is ``dataset``."""
        if self.given is not None:
            uid = str(dataset.SOPInstanceUID)
            if uid not in self.given:
                raise CourierError(
                    "it is not in the review file (run --pixels review again to list it)"
                )
            return self.given[uid]
        finding = find_text(source, dataset)
        if self.review is None or not finding.triage.flagged:
            return finding.boxes
        reviewed = self.review(source, finding)
        if reviewed is None:
            raise CourierError("the review of its burned-in text was cancelled: no copy made")
        return reviewed
