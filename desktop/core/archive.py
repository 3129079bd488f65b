"""What a query/retrieve provider asks of the local store, and the refusals it can get.

The store (``desktop.core.store``) implements :class:`Archive`; the network services (C-FIND,
C-MOVE, C-GET, storage commitment in ``desktop.net``) are written against this protocol only,
so neither side imports the other.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Protocol

from pydicom import Dataset

from desktop.core.errors import CourierError

Model = Literal["PATIENT", "STUDY"]  # Patient Root or Study Root information model
Level = Literal["PATIENT", "STUDY", "SERIES", "IMAGE"]

# PS3.4 C.4.1.1.4 statuses a refused query or retrieve maps to.
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
UNABLE_TO_PROCESS = 0xC000


class InvalidQueryError(CourierError):
    """An identifier the store cannot answer: the message says which key and why."""

    def __init__(self, message: str, *, status: int = IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS) -> None:
        super().__init__(message)
        self.status = status


class PatientConflictError(InvalidQueryError):
    """A retrieve naming a UID the store holds for two or more patients, without the
    PatientID (and IssuerOfPatientID) that choose one: refused, never served as one patient's
    (a study UID two hospitals gave two patients, or a mistake at the modality)."""

    #: The Error Comment (0000,0902): 64 characters at most, no patient named to the peer.
    comment = "UID held for 2+ patients: give PatientID to choose one"

    def __init__(self, *, level: Level, uid: str, study_uid: str, patients: list[str]) -> None:
        super().__init__(
            f"{level.lower()} {uid} is held for {len(patients)} patients "
            f"({', '.join(patients)}): refused, so that no patient's images go out as "
            "another's; a request naming PatientID (and IssuerOfPatientID) chooses one",
            status=UNABLE_TO_PROCESS,
        )
        self.study_uid, self.patients = study_uid, patients


class Archive(Protocol):
    """The indexed local store as the query/retrieve and commitment services see it."""

    def find(self, *, model: Model, level: Level, identifier: Dataset) -> Iterator[Dataset]:
        """C-FIND matching (PS3.4 C.2.2.2): one response identifier per match, return keys
        filled, Query/Retrieve Level and Specific Character Set set. Raises InvalidQueryError."""
        ...

    def locate(self, *, model: Model, level: Level, identifier: Dataset) -> list[Path]:
        """The files a C-MOVE or C-GET of ``identifier`` sends (unique keys down to
        ``level``). Raises InvalidQueryError."""
        ...

    def holds(self, *, sop_class_uid: str, sop_instance_uid: str) -> Path | None:
        """The file of this instance if the store keeps it (storage commitment), else None."""
        ...

    def add(self, path: Path) -> None:
        """Index a file just filed under the store's folder (received, retrieved, imported)."""
        ...
