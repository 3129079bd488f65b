"""A small Archive for the services' tests until the store lands: files indexed in memory,
exact or universal matching on the keys given, the levels' unique keys down to the level."""

import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom import Dataset

from desktop.core.archive import InvalidQueryError, Level, Model

UNIQUE = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
ORDER = ("PATIENT", "STUDY", "SERIES", "IMAGE")


class MemoryArchive:
    """Archive over ``files``; ``delay`` seconds before each match after the first."""

    def __init__(self, files: list[Path], *, delay: float = 0.0) -> None:
        self.headers = [(p, pydicom.dcmread(p, stop_before_pixels=True)) for p in files]
        self.delay = delay
        self.added: list[Path] = []

    def _matching(self, level: Level, identifier: Dataset) -> list[tuple[Path, Dataset]]:
        if "QueryRetrieveLevel" not in identifier:
            raise InvalidQueryError("no QueryRetrieveLevel")
        keys = {
            e.keyword: str(e.value)
            for e in identifier
            if e.keyword
            and not e.is_empty
            and e.keyword not in ("QueryRetrieveLevel", "SpecificCharacterSet")
        }
        return [
            (path, header)
            for path, header in self.headers
            if all(str(header.get(k, "")) == v for k, v in keys.items())
        ]

    def find(self, *, model: Model, level: Level, identifier: Dataset) -> Iterator[Dataset]:
        seen: set[str] = set()
        for number, (_, header) in enumerate(self._matching(level, identifier)):
            unique = str(header.get(UNIQUE[level], ""))
            if unique in seen:
                continue
            seen.add(unique)
            if number and self.delay:
                time.sleep(self.delay)
            match = Dataset()
            match.QueryRetrieveLevel = level
            match.SpecificCharacterSet = "ISO_IR 192"
            for element in identifier:
                if element.keyword and element.keyword != "QueryRetrieveLevel":
                    setattr(match, element.keyword, header.get(element.keyword, ""))
            for upper in ORDER[: ORDER.index(level) + 1]:
                setattr(match, UNIQUE[upper], header.get(UNIQUE[upper], ""))
            yield match

    def locate(self, *, model: Model, level: Level, identifier: Dataset) -> list[Path]:
        return [path for path, _ in self._matching(level, identifier)]

    def holds(self, *, sop_class_uid: str, sop_instance_uid: str) -> Path | None:
        return next(
            (
                p
                for p, h in self.headers
                if h.SOPInstanceUID == sop_instance_uid and h.SOPClassUID == sop_class_uid
            ),
            None,
        )

    def add(self, path: Path) -> None:
        self.added.append(path)
