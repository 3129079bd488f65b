"""The studies and patients of DICOM files, as audit messages name them (read from headers)."""

from collections.abc import Iterable
from pathlib import Path

from desktop.core.attributes import TEXT_FIELDS
from desktop.core.audit.events import Study
from desktop.core.errors import HeaderError
from desktop.core.header import read_header
from desktop.core.model import MediaTree
from desktop.core.values import SPECIFIC_CHARACTER_SET, Values

STUDY_FIELDS = (
    "sop_instance_uid",
    "sop_class_uid",
    "study_instance_uid",
    "patient_id",
    "patient_name",
    "accession_number",
)
UNKNOWN_STUDY = "unknown"
#: The tags ``instance_in`` reads (the character set decodes the names).
STUDY_TAGS = frozenset(
    {
        *(TEXT_FIELDS[field] for field in STUDY_FIELDS),
        SPECIFIC_CHARACTER_SET,
    }
)


def study_of(path: Path) -> Study:
    """The study of one file, counting its SOP class once (an unreadable file: 'unknown')."""
    return instance_of(path)[1]


def instance_of(path: Path) -> tuple[str, Study]:
    """The SOP Instance UID of one file and its study, as ``study_of`` reads it."""
    try:
        values = read_header(path).values
    except (HeaderError, OSError):
        return "", Study(UNKNOWN_STUDY)
    return instance_in(values)


def instance_in(values: Values) -> tuple[str, Study]:
    """``instance_of`` from a header's values already read (``STUDY_TAGS`` among them)."""

    def text(field: str) -> str:
        tag = TEXT_FIELDS[field]
        return values.text(tag) if tag in values else ""

    study = Study(
        text("study_instance_uid") or UNKNOWN_STUDY,
        text("patient_id"),
        text("patient_name"),
        text("accession_number"),
    )
    study.sop_classes[text("sop_class_uid") or "unknown"] += 1
    return text("sop_instance_uid"), study


def studies_in(trees: Iterable[MediaTree]) -> dict[str, Study]:
    """The study of every instance of opened media, by SOP Instance UID (what ``study_of``
    would read again from each file's header)."""
    found: dict[str, Study] = {}
    for tree in trees:
        for patient in tree.patients:
            for study in patient.studies:
                for series in study.series:
                    for instance in series.instances:
                        one = Study(
                            study.study_instance_uid or UNKNOWN_STUDY,
                            patient.patient_id,
                            patient.patient_name,
                            study.accession_number,
                        )
                        one.sop_classes[instance.sop_class_uid or "unknown"] += 1
                        found[instance.sop_instance_uid] = one
    return found


def group_by_study(studies: Iterable[Study]) -> dict[tuple[str, str], Study]:
    """One Study per Study Instance UID and Patient ID, the SOP classes of those given
    counted together: a study UID whose instances name two patients is recorded as two
    studies, each with its own patient, never under one of them."""
    grouped: dict[tuple[str, str], Study] = {}
    for found in studies:
        known = grouped.setdefault(
            (found.study_uid, found.patient_id),
            Study(found.study_uid, found.patient_id, found.patient_name, found.accession),
        )
        known.sop_classes.update(found.sop_classes)
    return grouped
