"""The header's signs that an image may carry burned-in text, without pydicom: Burned In
Annotation, the modality and SOP class (ultrasound, secondary capture, screen saves, video),
the image type, a table of annotation bars by manufacturer and model, and ultrasound regions.
``triage`` reads them from pydicom's data set before a search; ``unsearched`` from the file's
header bytes, for copies whose pixels were not searched (``deid --pixels off``), or
``signs_in`` from the values the copy was made from."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from desktop.core.deid.boxes import Box
from desktop.core.errors import CourierError
from desktop.core.values import Values

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

IMAGE_TYPE, SOP_CLASS, MODALITY, MANUFACTURER = 0x00080008, 0x00080016, 0x00080060, 0x00080070
MODEL, REGIONS, ROWS, BURNED_IN = 0x00081090, 0x00186011, 0x00280010, 0x00280301
SIGN_TAGS = frozenset(
    {IMAGE_TYPE, SOP_CLASS, MODALITY, MANUFACTURER, MODEL, REGIONS, ROWS, BURNED_IN}
)


def reasons(
    *,
    burned_in: str,
    modality: str,
    sop_class: str,
    image_type: Iterable[str],
    known: bool,
    regions: bool,
) -> tuple[str, ...]:
    """Why an image's pixels may hold text (empty: no sign). Burned In Annotation NO is
    believed, as CTP does, unless the device has a known annotation bar."""
    burned_in, modality = burned_in.upper(), modality.upper()
    if burned_in == "NO" and not known:
        return ()
    found = []
    if burned_in == "YES":
        found.append("Burned In Annotation is YES")
    if modality in TEXT_MODALITIES:
        found.append(f"modality {modality}")
    if sop_class in CAPTURE_CLASSES:
        found.append(CAPTURE_CLASSES[sop_class])
    captured = {value.upper() for value in image_type} & CAPTURE_IMAGE_TYPES
    if captured:
        found.append("image type " + "\\".join(sorted(captured)))
    if known:
        found.append("the device has a known annotation bar")
    if regions and burned_in != "NO":
        found.append("ultrasound regions leave room for annotation")
    return tuple(found)


def known_boxes(manufacturer: str, model: str, rows: int | None) -> tuple[Box, ...]:
    """The annotation bar of the device, when the table knows it."""
    for entry in KNOWN_REGIONS:
        if (
            re.search(entry.manufacturer, manufacturer, re.IGNORECASE)
            and re.search(entry.model, model, re.IGNORECASE)
            and entry.rows in (None, rows)
        ):
            return entry.boxes
    return ()


def unsearched(path: Path) -> tuple[str, ...]:
    """Why the pixels of ``path`` may hold burned-in text, from its header's bytes (our own
    reader: no pydicom); a header that cannot be read is a sign too."""
    from desktop.core.header import read_header

    try:
        values = read_header(path, SIGN_TAGS).values
    except CourierError as error:
        return (f"its header could not be read for signs of text ({error})",)
    return signs_in(values)


def signs_in(values: Values) -> tuple[str, ...]:
    """``unsearched`` from a header's values already read (``SIGN_TAGS`` among them)."""
    return reasons(
        burned_in=values.text(BURNED_IN),
        modality=values.text(MODALITY),
        sop_class=values.text(SOP_CLASS),
        image_type=values.text(IMAGE_TYPE).split("\\"),
        known=bool(
            known_boxes(values.text(MANUFACTURER), values.text(MODEL), values.integer(ROWS))
        ),
        regions=REGIONS in values,
    )
