"""Which images may carry burned-in text, read from the header alone (``signs``), and where it
is known to be: the device's annotation bar, and the ultrasound regions (what lies outside them
is annotation).
"""

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from desktop.core.deid.boxes import Box
from desktop.core.deid.signs import known_boxes, reasons


@dataclass(frozen=True, slots=True)
class Triage:
    """Why the pixels of an image are searched for text (empty: they are not), the device's
    known annotation boxes (masked whatever they hold), and the ultrasound data regions
    (inside them only the file's own values are masked, not look-alikes)."""

    reasons: tuple[str, ...]
    known: tuple[Box, ...] = ()
    data_regions: tuple[Box, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


def triage(dataset: Dataset) -> Triage:
    """Read the header's signs of burned-in text."""
    known = known_boxes(
        str(dataset.get("Manufacturer", "")),
        str(dataset.get("ManufacturerModelName", "")),
        dataset.get("Rows"),
    )
    regions = _ultrasound_regions(dataset)
    why = reasons(
        burned_in=str(dataset.get("BurnedInAnnotation", "")),
        modality=str(dataset.get("Modality", "")),
        sop_class=str(dataset.get("SOPClassUID", "")),
        image_type=[str(v) for v in _list(dataset.get("ImageType"))],
        known=bool(known),
        regions=bool(regions),
    )
    return Triage(why, known, regions) if why else Triage(())


def _ultrasound_regions(dataset: Dataset) -> tuple[Box, ...]:
    boxes = []
    for item in dataset.get("SequenceOfUltrasoundRegions", []):
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        if x1 >= x0 and y1 >= y0:
            boxes.append(Box(x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    return tuple(boxes)


def _list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, MultiValue | list) else [value]
