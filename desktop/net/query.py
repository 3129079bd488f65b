"""C-FIND and C-MOVE as a requestor (Study Root, and Patient Root for patient-level finds)."""

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset

from desktop.core.errors import CourierError
from desktop.net import dimse
from desktop.net.association import Association, open_service
from desktop.net.encoding import decode, encode
from desktop.net.link import Connector
from desktop.net.store import Peer

PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
LEVELS = ("patient", "study", "series", "image")
RETURN_KEYS = {
    "patient": (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
    ),
    "study": (
        "PatientName",
        "PatientID",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "StudyDescription",
        "AccessionNumber",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedInstances",
    ),
    "series": (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "NumberOfSeriesRelatedInstances",
    ),
    "image": (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
    ),
}


class QueryError(CourierError):
    """The peer refused or failed a query or retrieve."""


@dataclass(frozen=True, slots=True)
class MoveProgress:
    """Sub-operation counts of a C-MOVE, from one of its responses."""

    status: dimse.Status
    remaining: int
    completed: int
    failed: int
    warning: int


def identifier(level: str, keys: dict[str, str]) -> Dataset:
    """The query identifier: the level's return keys, empty, overridden by ``keys``."""
    if level not in LEVELS:
        raise QueryError(f"a query level is one of {', '.join(LEVELS)}, not {level!r}")
    dataset = Dataset()
    dataset.QueryRetrieveLevel = "IMAGE" if level == "image" else level.upper()
    for keyword in RETURN_KEYS[level]:
        setattr(dataset, keyword, "")
    for keyword, value in keys.items():
        try:
            setattr(dataset, keyword, value)
        except (ValueError, TypeError) as error:
            raise QueryError(f"bad query key {keyword}={value!r}: {error}") from error
    return dataset


def find(connect: Connector, peer: Peer, level: str, keys: dict[str, str]) -> Iterator[Dataset]:
    """The matches of a C-FIND, as they arrive."""
    query = identifier(level, keys)
    sop_class = PATIENT_ROOT_FIND if level == "patient" else STUDY_ROOT_FIND
    association, context_id, syntax = _open(connect, peer, sop_class, "C-FIND")
    association.send_command(
        context_id, dimse.query_request(dimse.C_FIND_RQ, association.next_message_id(), sop_class)
    )
    payload = encode(query, syntax)
    association.send_dataset(context_id, [payload], len(payload))
    while True:
        message = association.receive()
        status = dimse.status(int(message.command.get(dimse.STATUS, 0xFFFF)))
        if status.category == "pending" and message.dataset is not None:
            yield decode(message.dataset, syntax)
            continue
        association.release()
        if status.failed:
            raise QueryError(f"the peer failed the query: {status.describe()}")
        return


def move(
    connect: Connector, peer: Peer, destination: str, study_uid: str, series_uid: str = ""
) -> Iterator[MoveProgress]:
    """A C-MOVE of a study (or one series) to ``destination``, with its progress."""
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    query.StudyInstanceUID = study_uid
    if series_uid:
        query.SeriesInstanceUID = series_uid
    association, context_id, syntax = _open(connect, peer, STUDY_ROOT_MOVE, "C-MOVE")
    association.send_command(
        context_id,
        dimse.query_request(
            dimse.C_MOVE_RQ, association.next_message_id(), STUDY_ROOT_MOVE, destination
        ),
    )
    payload = encode(query, syntax)
    association.send_dataset(context_id, [payload], len(payload))
    while True:
        message = association.receive()
        command = message.command
        status = dimse.status(int(command.get(dimse.STATUS, 0xFFFF)))
        yield MoveProgress(
            status,
            *(
                int(command.get(t, 0))
                for t in (dimse.REMAINING, dimse.COMPLETED, dimse.FAILED_COUNT, dimse.WARNING_COUNT)
            ),
        )
        if status.category != "pending":
            association.release()
            return


def _open(
    connect: Connector, peer: Peer, sop_class: str, service: str
) -> tuple[Association, int, str]:
    association, syntax = open_service(
        connect(),
        peer.called_ae,
        peer.calling_ae,
        sop_class,
        f"{service} for this information model",
    )
    return association, 1, syntax
