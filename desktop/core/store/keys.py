"""The C-FIND keys the store indexes and answers (PS3.4 C.6.1.1 and C.6.2.1), by level.

Each key is stored in its level's table under its keyword, except the computed ones (counts,
modalities and SOP classes of a study), which are derived from the levels below at query time.
Patient-level keys are study-level keys in the Study Root model.
"""

from dataclasses import dataclass
from typing import Literal

from pydicom.datadict import dictionary_VR, tag_for_keyword

from desktop.core.archive import Level, Model

Stored = Literal["PATIENT", "STUDY", "SERIES", "IMAGE"]
LEVELS: tuple[Level, ...] = ("PATIENT", "STUDY", "SERIES", "IMAGE")
MODEL_LEVELS: dict[Model, tuple[Level, ...]] = {"PATIENT": LEVELS, "STUDY": LEVELS[1:]}
MODEL_NAMES: dict[Model, str] = {"PATIENT": "Patient Root", "STUDY": "Study Root"}


@dataclass(frozen=True, slots=True)
class Key:
    """One matching/return key: where it lives and how it matches."""

    keyword: str
    tag: int
    vr: str
    level: Stored  # its level in the Patient Root model
    computed: bool = False  # derived from the levels below, not read from files

    def level_in(self, model: Model) -> Level:
        """The key's level in ``model`` (patient keys belong to the study in Study Root)."""
        return "STUDY" if model == "STUDY" and self.level == "PATIENT" else self.level


def _key(keyword: str, level: Stored, *, computed: bool = False) -> Key:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return Key(keyword, int(tag), str(dictionary_VR(tag)), level, computed)


def _keys(level: Stored, keywords: str, *, computed: bool = False) -> list[Key]:
    return [_key(k, level, computed=computed) for k in keywords.split()]


#: Unique key of each level (PS3.4 C.6.1.1).
UNIQUE: dict[Level, str] = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
KEYS: tuple[Key, ...] = (
    *_keys(
        "PATIENT",
        "PatientID IssuerOfPatientID PatientName OtherPatientNames OtherPatientIDs "
        "PatientBirthDate PatientBirthTime PatientSex EthnicGroup PatientComments",
    ),
    *_keys(
        "PATIENT",
        "NumberOfPatientRelatedStudies NumberOfPatientRelatedSeries "
        "NumberOfPatientRelatedInstances",
        computed=True,
    ),
    *_keys(
        "STUDY",
        "StudyInstanceUID StudyDate StudyTime AccessionNumber StudyID ReferringPhysicianName "
        "StudyDescription NameOfPhysiciansReadingStudy AdmittingDiagnosesDescription "
        "PatientAge PatientSize PatientWeight Occupation AdditionalPatientHistory",
    ),
    *_keys(
        "STUDY",
        "ModalitiesInStudy SOPClassesInStudy NumberOfStudyRelatedSeries "
        "NumberOfStudyRelatedInstances",
        computed=True,
    ),
    *_keys(
        "SERIES",
        "SeriesInstanceUID Modality SeriesNumber SeriesDescription SeriesDate SeriesTime "
        "BodyPartExamined Laterality PerformingPhysicianName ProtocolName InstitutionName "
        "StationName Manufacturer PerformedProcedureStepStartDate "
        "PerformedProcedureStepStartTime",
    ),
    *_keys("SERIES", "NumberOfSeriesRelatedInstances", computed=True),
    *_keys(
        "IMAGE",
        "SOPInstanceUID SOPClassUID InstanceNumber ContentDate ContentTime AcquisitionDate "
        "AcquisitionTime AcquisitionDateTime AcquisitionNumber Rows Columns NumberOfFrames "
        "ImageType ImageComments ContentLabel ContentDescription",
    ),
)
BY_TAG: dict[int, Key] = {k.tag: k for k in KEYS}
BY_KEYWORD: dict[str, Key] = {k.keyword: k for k in KEYS}
#: Keys stored in each level's table, in column order.
COLUMNS: dict[Stored, tuple[Key, ...]] = {
    level: tuple(k for k in KEYS if k.level == level and not k.computed) for level in LEVELS
}
#: Date keys and the time keys they are matched with as one date-time (PS3.4 C.2.2.2.5.1).
DATE_TIME_PAIRS: dict[str, str] = {
    "PatientBirthDate": "PatientBirthTime",
    "StudyDate": "StudyTime",
    "SeriesDate": "SeriesTime",
    "PerformedProcedureStepStartDate": "PerformedProcedureStepStartTime",
    "ContentDate": "ContentTime",
    "AcquisitionDate": "AcquisitionTime",
}
SPECIFIC_CHARACTER_SET = 0x00080005
QUERY_RETRIEVE_LEVEL = 0x00080052
RETRIEVE_AE_TITLE = 0x00080054
INSTANCE_AVAILABILITY = 0x00080056
TIMEZONE_OFFSET = 0x00080201
#: Attributes an identifier may carry that are not matched (the provider's own), their VRs.
PROVIDER_KEYS: dict[int, str] = {
    SPECIFIC_CHARACTER_SET: "CS",
    QUERY_RETRIEVE_LEVEL: "CS",
    RETRIEVE_AE_TITLE: "AE",
    INSTANCE_AVAILABILITY: "CS",
    TIMEZONE_OFFSET: "SH",
}
#: Instance attributes indexed for the browser (a stack's geometry), not query keys.
BROWSER_COLUMNS: dict[str, int] = {
    "ImagePositionPatient": 0x00200032,
    "ImageOrientationPatient": 0x00200037,
}
#: Every tag a file is read for when it is indexed.
FILE_TAGS: frozenset[int] = frozenset(
    {k.tag for k in KEYS if not k.computed}
    | set(BROWSER_COLUMNS.values())
    | {SPECIFIC_CHARACTER_SET}
)
