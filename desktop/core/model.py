"""The media model a browser shows: Patient → Study → Series → Instance, plus what went wrong.

Readers (DICOMDIR, folder scan) produce flat ``InstanceEntry`` records; ``build_tree`` groups and
sorts them, so every source yields the same tree for the same instances.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar

from desktop.core.shown import shown


class InstanceStatus(StrEnum):
    """How an instance relates to the media's index."""

    OK = "ok"  # readable (and referenced, when the media has a DICOMDIR)
    UNREFERENCED = "unreferenced"  # a DICOM file on the media that its DICOMDIR does not list
    MISSING = "missing"  # listed by the DICOMDIR, but the file is not there
    DAMAGED = "damaged"  # the file is there but broken (truncated, unreadable header)


# Which copy of an instance is used when several files hold it: the readable one first.
_PREFERENCE = {
    InstanceStatus.OK: 0,
    InstanceStatus.UNREFERENCED: 1,
    InstanceStatus.DAMAGED: 2,
    InstanceStatus.MISSING: 3,
}


class Copy(Protocol):
    """A file (or a record naming none) holding an instance: an entry or an instance."""

    @property
    def sop_instance_uid(self) -> str: ...

    @property
    def status(self) -> "InstanceStatus": ...

    @property
    def path(self) -> Path | None: ...


CopyT = TypeVar("CopyT", bound=Copy)


def one_copy_each(copies: Iterable[CopyT]) -> tuple[list[CopyT], list[tuple[CopyT, CopyT]]]:
    """The copy of each SOP Instance UID to use, in the order the UIDs were first met — a
    file before a record naming none, a readable file before a damaged one, whichever came
    first — and every other copy paired with the one used instead."""
    copies = list(copies)
    kept: dict[str, CopyT] = {}
    for copy in copies:
        first = kept.get(copy.sop_instance_uid)
        if first is None or _rank(copy) < _rank(first):
            kept[copy.sop_instance_uid] = copy  # an existing key keeps its place
    others = [(c, kept[c.sop_instance_uid]) for c in copies if c is not kept[c.sop_instance_uid]]
    return list(kept.values()), others


def _rank(copy: Copy) -> tuple[bool, int]:
    return copy.path is None, _PREFERENCE[copy.status]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something on the media that could not be read as expected, and why."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class SharedStudy(Problem):
    """A Study Instance UID whose instances name more than one patient (kept apart)."""

    study_instance_uid: str = ""


@dataclass(slots=True)
class InstanceEntry:
    """Everything known about one instance, with its patient, study and series attributes."""

    sop_instance_uid: str
    sop_class_uid: str = ""
    transfer_syntax_uid: str = ""
    instance_number: int | None = None
    frames: int | None = None
    rows: int | None = None
    columns: int | None = None
    path: Path | None = None
    size: int | None = None
    status: InstanceStatus = InstanceStatus.OK
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_instance_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_instance_uid: str = ""
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    image_position: tuple[float, ...] | None = None
    image_orientation: tuple[float, ...] | None = None
    dataset_offset: int = 0  # where the file's data set starts (0: its file not read)
    file_state: str = ""  # its file's state as read, when settled (core/file_state)


@dataclass(slots=True)
class Instance:
    """One SOP instance (an image, a cine, a report ...)."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    instance_number: int | None
    frames: int | None
    rows: int | None
    columns: int | None
    path: Path | None
    size: int | None
    status: InstanceStatus
    image_position: tuple[float, ...] | None = None  # Image Position (Patient), mm
    image_orientation: tuple[float, ...] | None = None  # Image Orientation (Patient), 6 cosines
    dataset_offset: int = 0  # where the file's data set starts (0: its file not read)
    file_state: str = ""  # its file's state as read, when settled (core/file_state)

    @property
    def sop_class_name(self) -> str:
        """The SOP class's name from the DICOM dictionary, or its UID when unknown."""
        from pydicom.uid import UID  # deferred: pydicom takes ~0.5 s to import

        return UID(self.sop_class_uid).name if self.sop_class_uid else ""


@dataclass(slots=True)
class Series:
    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    instances: list[Instance] = field(default_factory=list)


@dataclass(slots=True)
class Study:
    study_instance_uid: str
    study_date: str
    study_time: str
    study_description: str
    accession_number: str
    series: list[Series] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        """The distinct modalities of the study's series, sorted."""
        return sorted({s.modality for s in self.series if s.modality})

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


@dataclass(slots=True)
class Patient:
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    studies: list[Study] = field(default_factory=list)


@dataclass(slots=True)
class MediaTree:
    """What was found at a path: the patients, and the problems met on the way."""

    source: str  # "dicomdir" or "scan"
    root: Path
    patients: list[Patient]
    problems: list[Problem]

    def instances(self) -> Iterable[Instance]:
        """Every instance of the tree, in display order."""
        for patient in self.patients:
            for study in patient.studies:
                for series in study.series:
                    yield from series.instances


def build_tree(
    source: str, root: Path, entries: Iterable[InstanceEntry], problems: list[Problem]
) -> MediaTree:
    """Group entries by patient, study and series, and sort them as a reader expects."""
    patients: dict[tuple[str, str], Patient] = {}
    # Studies and series are keyed by their patient too: instances of one Study Instance
    # UID that name different patients are never merged (see ``_shared_studies``).
    studies: dict[tuple[tuple[str, str], str], Study] = {}
    series_by_uid: dict[tuple[tuple[tuple[str, str], str], str], Series] = {}
    for entry in entries:
        patient_key = (entry.patient_id, entry.patient_name if not entry.patient_id else "")
        patient = patients.get(patient_key)
        if patient is None:
            patient = patients[patient_key] = Patient(
                entry.patient_id, entry.patient_name, entry.patient_birth_date, entry.patient_sex
            )
        study_key = (patient_key, entry.study_instance_uid or "unknown study")
        study = studies.get(study_key)
        if study is None:
            study = studies[study_key] = Study(
                entry.study_instance_uid,
                entry.study_date,
                entry.study_time,
                entry.study_description,
                entry.accession_number,
            )
            patient.studies.append(study)
        series_key = (study_key, entry.series_instance_uid or "unknown series")
        series = series_by_uid.get(series_key)
        if series is None:
            series = series_by_uid[series_key] = Series(
                entry.series_instance_uid,
                entry.modality,
                entry.series_number,
                entry.series_description,
            )
            study.series.append(series)
        series.instances.append(
            Instance(
                entry.sop_instance_uid,
                entry.sop_class_uid,
                entry.transfer_syntax_uid,
                entry.instance_number,
                entry.frames,
                entry.rows,
                entry.columns,
                entry.path,
                entry.size,
                entry.status,
                entry.image_position,
                entry.image_orientation,
                entry.dataset_offset,
                entry.file_state,
            )
        )
    ordered = sorted(patients.values(), key=lambda p: (p.patient_name.casefold(), p.patient_id))
    for patient in ordered:
        _sort_patient(patient)
    return MediaTree(source, root, ordered, problems + _shared_studies(ordered, root))


def _shared_studies(patients: list[Patient], root: Path) -> list[Problem]:
    """A problem for each Study Instance UID whose instances name more than one patient:
    a corrected Patient ID re-sent, a modality reusing UIDs, or a wrong sender. Each patient
    keeps only its own instances; the problem names the patients and their counts, most
    first, and the first file of a patient holding fewer."""
    holders: dict[str, list[tuple[Patient, Study]]] = {}
    for patient in patients:
        for study in patient.studies:
            if study.study_instance_uid:
                holders.setdefault(study.study_instance_uid, []).append((patient, study))
    problems: list[Problem] = []
    for uid, held in holders.items():
        if len(held) < 2:
            continue
        held.sort(key=lambda one: -one[1].instance_count)  # the odd ones out last
        counts = ", ".join(
            f"{_patient_label(patient)} ({study.instance_count})" for patient, study in held
        )
        paths = [i.path for _, study in held[1:] for s in study.series for i in s.instances]
        problems.append(
            SharedStudy(
                next((p for p in paths if p is not None), root),
                f"study {uid} holds instances of {len(held)} patients: {counts}; "
                "they are kept apart, check the study before using it",
                uid,
            )
        )
    return problems


def shared_warnings(trees: Iterable[MediaTree], study_uids: Collection[str] | None) -> list[str]:
    """A warning for each study of ``study_uids`` (None: all) whose instances name more than
    one patient."""
    return [
        f"warning: {shown(problem.reason)}"  # it names patients by the files' own text
        for tree in trees
        for problem in tree.problems
        if isinstance(problem, SharedStudy)
        and (study_uids is None or problem.study_instance_uid in study_uids)
    ]


def _patient_label(patient: Patient) -> str:
    """How a problem names a patient: the Patient ID, else the name."""
    return patient.patient_id or patient.patient_name or "no patient ID"


def _number_key(number: int | None, tiebreak: str) -> tuple[bool, int, str]:
    return (number is None, number or 0, tiebreak)


def _sort_patient(patient: Patient) -> None:
    """Studies newest first (undated last); series and instances by their numbers."""
    dated = sorted(
        (s for s in patient.studies if s.study_date),
        key=lambda s: (s.study_date, s.study_time),
        reverse=True,
    )
    patient.studies = dated + [s for s in patient.studies if not s.study_date]
    for study in patient.studies:
        study.series.sort(key=lambda s: _number_key(s.series_number, s.series_instance_uid))
        for series in study.series:
            series.instances.sort(
                key=lambda i: _number_key(i.instance_number, str(i.path or i.sop_instance_uid))
            )


def frames_of(instance: Instance) -> int:
    """How many images ``instance`` gives the viewer's stack: none when it has no pixels or
    no file, one slot when it is damaged (the frames a broken header claims are not
    believed), else its frames."""
    if instance.path is None or instance.frames == 0 or instance.status is InstanceStatus.MISSING:
        return 0
    if instance.status is InstanceStatus.DAMAGED:
        return 1
    return max(instance.frames or 1, 1)
