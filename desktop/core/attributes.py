"""Copying the attributes a browser shows from a pydicom dataset into an ``InstanceEntry``."""

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from desktop.core.model import InstanceEntry

#: InstanceEntry field → the DICOM keyword it shows.
TEXT_FIELDS: dict[str, str] = {
    "sop_instance_uid": "SOPInstanceUID",
    "sop_class_uid": "SOPClassUID",
    "patient_id": "PatientID",
    "patient_name": "PatientName",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "study_instance_uid": "StudyInstanceUID",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "study_description": "StudyDescription",
    "accession_number": "AccessionNumber",
    "series_instance_uid": "SeriesInstanceUID",
    "modality": "Modality",
    "series_description": "SeriesDescription",
}
INTEGER_FIELDS: dict[str, str] = {
    "instance_number": "InstanceNumber",
    "series_number": "SeriesNumber",
    "frames": "NumberOfFrames",
    "rows": "Rows",
    "columns": "Columns",
}


def text_value(dataset: Dataset, keyword: str) -> str:
    """The value as display text ('' when absent or not decodable); multi-values joined by '\\'."""
    try:
        value = dataset.get(keyword)
    except (ValueError, TypeError, LookupError):
        return ""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def integer_value(dataset: Dataset, keyword: str) -> int | None:
    """The value as an integer, or None when absent or malformed."""
    try:
        value = dataset.get(keyword)
        return None if value in (None, "") else int(value)
    except (ValueError, TypeError, LookupError, OverflowError):
        return None


def fill_entry(entry: InstanceEntry, dataset: Dataset) -> None:
    """Set each field of ``entry`` that is still empty from ``dataset``."""
    for field, keyword in TEXT_FIELDS.items():
        if not getattr(entry, field):
            setattr(entry, field, text_value(dataset, keyword))
    for field, keyword in INTEGER_FIELDS.items():
        if getattr(entry, field) is None:
            setattr(entry, field, integer_value(dataset, keyword))
