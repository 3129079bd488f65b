"""Which images may carry burned-in text, read from the header alone, and where it is known to
be: Burned In Annotation, the modality and SOP class (ultrasound, secondary capture, screen
saves, video), a table of annotation bars by manufacturer and model, and the ultrasound regions
(what lies outside them is annotation).
"""

import re
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from desktop.core.deid.boxes import Box

#: Modalities whose images carry burned-in text as a rule.
TEXT_MODALITIES = frozenset({"US", "IVUS", "ES", "XC", "GM", "SM", "OT", "DOC", "SC"})
#: SOP classes made by capturing a screen, a camera or a video (PS3.4 Annex B).
CAPTURE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.77.1.1.1": "Video Endoscopic Image",
    "1.2.840.10008.5.1.4.1.1.77.1.2.1": "Video Microscopic Image",
    "1.2.840.10008.5.1.4.1.1.77.1.4.1": "Video Photographic Image",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF",
}
CAPTURE_IMAGE_TYPES = frozenset({"SCREEN SAVE", "SCREEN_SAVE", "SECONDARY", "CAPTURE"})


@dataclass(frozen=True, slots=True)
class KnownRegions:
    """An annotation bar of one device, as measured by RSNA CTP's pixel anonymizer script."""

    manufacturer: str  #: a regular expression matched against Manufacturer
    model: str  #: against Manufacturer's Model Name
    rows: int | None
    boxes: tuple[Box, ...]


#: x, y, width, height: the name bars of ultrasound machines (from CTP's DicomPixelAnonymizer).
KNOWN_REGIONS = (
    KnownRegions("GE", "LOGIQ ?9$", None, (Box(0, 0, 640, 30),)),
    KnownRegions("GE", "LOGIQ ?E9|V830", None, (Box(0, 0, 960, 70),)),
    KnownRegions("Philips", "iU22", 480, (Box(0, 0, 640, 47),)),
    KnownRegions("Philips", "iU22", 600, (Box(0, 0, 800, 59),)),
    KnownRegions("Philips", "EPIQ", 600, (Box(0, 0, 1024, 49),)),
    KnownRegions("Philips", "CX50", None, (Box(0, 0, 800, 59),)),
    KnownRegions("Zonare", "Z_ONE", 600, (Box(0, 0, 800, 65),)),
    KnownRegions("ACUSON", "SEQUOIA", 480, (Box(0, 0, 640, 30),)),
    KnownRegions("Siemens", "ACUSON", 600, (Box(0, 0, 800, 43), Box(128, 56, 16, 16))),
    KnownRegions("Siemens", "Antares", 768, (Box(0, 0, 1024, 60), Box(800, 65, 104, 14))),
    KnownRegions("Siemens", "S2000", 768, (Box(0, 0, 1024, 60),)),
    KnownRegions("TOSHIBA", "A400|A500", 720, (Box(0, 0, 960, 60),)),
    KnownRegions("SuperSonic", "Aixplorer", 1050, (Box(0, 0, 1400, 89),)),
)


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
    reasons = []
    burned_in = str(dataset.get("BurnedInAnnotation", "")).upper()
    if burned_in == "YES":
        reasons.append("Burned In Annotation is YES")
    modality = str(dataset.get("Modality", "")).upper()
    if modality in TEXT_MODALITIES:
        reasons.append(f"modality {modality}")
    sop_class = str(dataset.get("SOPClassUID", ""))
    if sop_class in CAPTURE_CLASSES:
        reasons.append(CAPTURE_CLASSES[sop_class])
    image_type = {str(v).upper() for v in _list(dataset.get("ImageType"))}
    if image_type & CAPTURE_IMAGE_TYPES:
        reasons.append("image type " + "\\".join(sorted(image_type & CAPTURE_IMAGE_TYPES)))
    known = _known_boxes(dataset)
    if known:
        reasons.append("the device has a known annotation bar")
    regions = _ultrasound_regions(dataset)
    if regions and burned_in != "NO":
        reasons.append("ultrasound regions leave room for annotation")
    if burned_in == "NO" and not known:
        return Triage(())  # the creator says there is none: believed, as CTP does
    return Triage(tuple(reasons), known, regions)


def _known_boxes(dataset: Dataset) -> tuple[Box, ...]:
    manufacturer = str(dataset.get("Manufacturer", ""))
    model = str(dataset.get("ManufacturerModelName", ""))
    rows = dataset.get("Rows")
    for entry in KNOWN_REGIONS:
        if (
            re.search(entry.manufacturer, manufacturer, re.IGNORECASE)
            and re.search(entry.model, model, re.IGNORECASE)
            and entry.rows in (None, rows)
        ):
            return entry.boxes
    return ()


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
