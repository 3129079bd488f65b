"""The attributes a media browser shows, and copying them into an ``InstanceEntry``."""

from desktop.core.model import InstanceEntry
from desktop.core.tags import tag
from desktop.core.values import Values

#: InstanceEntry field → the tag of the attribute it shows.
TEXT_FIELDS: dict[str, int] = {
    "sop_instance_uid": tag("SOPInstanceUID"),
    "sop_class_uid": tag("SOPClassUID"),
    "patient_id": tag("PatientID"),
    "patient_name": tag("PatientName"),
    "patient_birth_date": tag("PatientBirthDate"),
    "patient_sex": tag("PatientSex"),
    "study_instance_uid": tag("StudyInstanceUID"),
    "study_date": tag("StudyDate"),
    "study_time": tag("StudyTime"),
    "study_description": tag("StudyDescription"),
    "accession_number": tag("AccessionNumber"),
    "series_instance_uid": tag("SeriesInstanceUID"),
    "modality": tag("Modality"),
    "series_description": tag("SeriesDescription"),
}
INTEGER_FIELDS: dict[str, int] = {
    "instance_number": tag("InstanceNumber"),
    "series_number": tag("SeriesNumber"),
    "frames": tag("NumberOfFrames"),
    "rows": tag("Rows"),
    "columns": tag("Columns"),
}
#: InstanceEntry field → the tag of a multi-valued decimal attribute (geometry of a slice).
VECTOR_FIELDS: dict[str, tuple[int, int]] = {
    "image_position": (tag("ImagePositionPatient"), 3),
    "image_orientation": (tag("ImageOrientationPatient"), 6),
}
#: Everything a scan reads from a header; other tags are skipped, never decoded.
BROWSER_TAGS: frozenset[int] = frozenset(
    {*TEXT_FIELDS.values(), *INTEGER_FIELDS.values()}
    | {field_tag for field_tag, _ in VECTOR_FIELDS.values()}
    | {tag(k) for k in ("SpecificCharacterSet", "SamplesPerPixel", "BitsAllocated")}
)


def fill_entry(entry: InstanceEntry, values: Values) -> None:
    """Set each field of ``entry`` that is still empty from ``values``."""
    for field, field_tag in TEXT_FIELDS.items():
        if not getattr(entry, field) and field_tag in values:
            setattr(entry, field, values.text(field_tag))
    for field, field_tag in INTEGER_FIELDS.items():
        if getattr(entry, field) is None and field_tag in values:
            setattr(entry, field, values.integer(field_tag))
    for field, (field_tag, length) in VECTOR_FIELDS.items():
        if getattr(entry, field) is None and field_tag in values:
            setattr(entry, field, decimals(values.text(field_tag), length))


def decimals(text: str, length: int) -> tuple[float, ...] | None:
    """``length`` numbers from a backslash-separated decimal string, or None if malformed."""
    try:
        numbers = tuple(float(part) for part in text.split("\\"))
    except ValueError:
        return None
    return numbers if len(numbers) == length else None
