"""Whether a line of text read from the pixels identifies someone: it holds one of the file's
own identifying values (names in their parts, IDs, accession, institution, dates written in the
usual ways), allowing for a reading error, or it looks like one (a date, a long number, an ID).

The values come from the original header, before the profile replaces them.
"""

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

NAME_KEYWORDS = (
    "PatientName",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansOfRecord",
)
ID_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "StudyID",
    "MedicalRecordLocator",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
)
DATE_KEYWORDS = (
    "PatientBirthDate",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "InstanceCreationDate",
)
#: How dates are burned in: ISO, compact, European and American order, abbreviated months.
DATE_FORMATS = (
    "%Y%m%d",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d%b%Y",
    "%d-%b-%Y",
    "%b%d%Y",
)
#: Text that looks identifying whoever it names: a date, a time stamp's date, a long number,
#: an ID mixing letters and at least four digits, or a label such as "Name:", "DOB", "MRN".
LOOKS_IDENTIFYING = re.compile(
    r"\b\d{1,4}\s?[-/.]\s?\d{1,2}\s?[-/.]\s?\d{2,4}\b"
    r"|\b\d{1,2}\s?[-/ ]?\s?(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*"
    r"\s?[-/ ]?\s?\d{2,4}\b"
    r"|\d{5,}"
    r"|\b(?=[A-Z0-9-]*\d{4})[A-Z]+[-]?\d[A-Z0-9-]*\b"
    r"|\b(NAME|PATIENT|DOB|BIRTH|MRN|ACC(ESSION)?|PAT\s?ID|ID)\b",
    re.IGNORECASE,
)
MIN_PART = 2  #: name parts shorter than this (initials) are not matched on their own
MIN_FUZZY = 5  #: values this long are matched allowing one misread character in five
FUZZY_RATIO = 0.8


@dataclass(frozen=True, slots=True)
class Identifiers:
    """The file's identifying values, upper case with only letters and digits kept."""

    values: frozenset[str]

    @classmethod
    def of(cls, dataset: Dataset) -> "Identifiers":
        return cls(frozenset(v for v in _values(dataset) if len(v) >= MIN_PART))

    def matches(self, text: str) -> bool:
        """Whether ``text`` holds one of the values (a misread character or so allowed)."""
        compact = _compact(text)
        if not compact:
            return False
        words = {_compact(w) for w in re.split(r"[\s^,:;=()\[\]]+", text)} - {""}
        for value in self.values:
            if value in words or (len(value) >= MIN_FUZZY and value in compact):
                return True
            if len(value) >= MIN_FUZZY and _near(value, compact):
                return True
        return False

    def identifying(self, text: str) -> bool:
        """Whether ``text`` holds a value of the file or looks like one."""
        return self.matches(text) or LOOKS_IDENTIFYING.search(text) is not None


def _values(dataset: Dataset) -> Iterator[str]:
    for keyword in NAME_KEYWORDS:
        for name in _strings(dataset, keyword):
            yield from (_compact(p) for p in re.split(r"[\^=\s,.]+", name))
    for keyword in ID_KEYWORDS:
        for value in _strings(dataset, keyword):
            yield _compact(value)
            yield from (_compact(w) for w in value.split() if len(w) >= 3)
    for keyword in DATE_KEYWORDS:
        for value in _strings(dataset, keyword):
            yield from _dates(value)


def _strings(dataset: Dataset, keyword: str) -> list[str]:
    value = dataset.get(keyword)
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, MultiValue | list) else [str(value)]


def _dates(value: str) -> Iterator[str]:
    try:
        date = dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return
    for form in DATE_FORMATS:
        yield _compact(date.strftime(form))


def _compact(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _near(value: str, compact: str) -> bool:
    """Whether some stretch of ``compact`` as long as ``value`` is nearly ``value``."""
    if len(compact) < len(value) - 1:
        return False
    width = len(value)
    for start in range(max(len(compact) - width, 0) + 1):
        window = compact[start : start + width]
        if SequenceMatcher(None, value, window, autojunk=False).ratio() >= FUZZY_RATIO:
            return True
    return False
