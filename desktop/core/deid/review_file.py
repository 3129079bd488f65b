"""The review file of ``deid --pixels review``: what was found in each image, written as JSON
for a person to edit (the ``boxes`` of each image), then read back to mask exactly those."""

import json
from collections.abc import Iterable
from pathlib import Path

from desktop.core.deid.boxes import Box
from desktop.core.deid.burned_in import Finding
from desktop.core.errors import CourierError
from desktop.core.files import write_atomic

FORMAT = "dicom-courier pixel review 1"


def write_review(path: Path, findings: Iterable[tuple[Path, str, Finding]]) -> int:
    """Write the review file of ``(source, SOP Instance UID, finding)``; the image count."""
    images = [
        {
            "source": str(source),
            "sop_instance_uid": uid,
            "flagged_because": list(finding.triage.reasons),
            "frames_read": list(finding.frames),
            "text_read": [
                {"box": line.box.to_json(), "text": line.text, "score": round(line.score, 3)}
                for line in finding.lines
            ],
            "boxes": [box.to_json() for box in finding.boxes],
        }
        for source, uid, finding in findings
    ]
    text = json.dumps({"format": FORMAT, "images": images}, indent=1, ensure_ascii=False)
    write_atomic(path, (text + "\n").encode("utf-8"))
    return len(images)


def read_review(path: Path) -> dict[str, tuple[Box, ...]]:
    """The boxes to mask, by original SOP Instance UID; CourierError naming what is wrong."""
    try:
        document = json.loads(path.read_text("utf-8"))
    except OSError as error:
        raise CourierError(f"cannot read the review file {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CourierError(f"the review file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CourierError(f"{path} is not a review file of DICOM Courier ({FORMAT!r})")
    boxes: dict[str, tuple[Box, ...]] = {}
    for number, image in enumerate(document.get("images", []), start=1):
        try:
            uid, listed = str(image["sop_instance_uid"]), image["boxes"]
            boxes[uid] = tuple(Box.from_json(value) for value in listed)
        except (KeyError, TypeError) as error:
            raise CourierError(
                f"image {number} of the review file {path} lacks 'sop_instance_uid' or a list "
                f"of 'boxes' ({error})"
            ) from None
        except CourierError as error:
            raise CourierError(f"image {number} of the review file {path}: {error}") from None
    return boxes
