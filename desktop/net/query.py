"""C-FIND and C-MOVE as a requestor (Study Root, and Patient Root for patient-level finds)."""

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import get_close_matches

from pydicom.datadict import keyword_dict, tag_for_keyword
from pydicom.dataset import Dataset

from desktop.core.errors import CourierError
from desktop.net import dimse, matching
from desktop.net.association import Association, Message, open_service
from desktop.net.catalogue import PATIENT_ROOT_FIND, STUDY_ROOT_FIND, STUDY_ROOT_MOVE
from desktop.net.encoding import decode, encode
from desktop.net.link import Connector, LinkError
from desktop.net.status import FIND, MOVE, Status, status
from desktop.net.store import Peer

log = logging.getLogger(__name__)

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


# Keys that belong above the series and image levels (PS3.4 C.6.2.1.2): a hierarchical
# archive accepts only the unique key of each level above the one searched.
STUDY_LEVEL_KEYS = frozenset(
    {
        *RETURN_KEYS["patient"],
        *RETURN_KEYS["study"],
        "StudyID",
        "ReferringPhysicianName",
        "OtherPatientIDs",
        "IssuerOfPatientID",
    }
)
SERIES_LEVEL_KEYS = frozenset(
    {
        *RETURN_KEYS["series"],
        "BodyPartExamined",
        "ProtocolName",
        "SeriesDate",
        "SeriesTime",
        "PerformedProcedureStepStartDate",
    }
) - {"StudyInstanceUID"}
ABOVE = {  # level: (the level above, its keys and those above it, its unique key)
    "series": ("study", STUDY_LEVEL_KEYS, "StudyInstanceUID"),
    "image": ("series", STUDY_LEVEL_KEYS | SERIES_LEVEL_KEYS, "SeriesInstanceUID"),
}
CANCEL_WAIT = 5.0  # seconds to wait for the peer's answer to our C-CANCEL
PENDING_UNSUPPORTED = 0xFF01  # matches continue, one or more optional keys not supported


class QueryError(CourierError):
    """The peer refused or failed a query or retrieve, or the query itself is wrong."""


@dataclass(frozen=True, slots=True)
class MoveProgress:
    """Sub-operation counts of a C-MOVE, from one of its responses, and the instances the
    final response lists as failed."""

    status: Status
    remaining: int
    completed: int
    failed: int
    warning: int
    failed_instances: tuple[str, ...] = ()

    def describe(self) -> str:
        counts = (
            f"{self.status.describe()}; completed {self.completed}, failed {self.failed}, "
            f"warning {self.warning}, remaining {self.remaining}"
        )
        if self.failed_instances:
            counts += f"; failed instances: {', '.join(self.failed_instances)}"
        return counts


@dataclass(slots=True)
class Unsupported:
    """What a peer said of our optional keys: whether it answered 0xFF01 (one or more not
    supported for existence or matching, PS3.4 C.4.1.1.4) and the keys it then left out."""

    warned: bool = False
    keys: set[str] = field(default_factory=set)

    def note(self, sent: Dataset, match: Dataset | None) -> None:
        """An 0xFF01 answer to the identifier ``sent``: the keys asked for and not returned."""
        self.warned = True
        if match is not None:
            self.keys |= {
                e.keyword for e in sent if e.keyword not in UNCHECKED and e.tag not in match
            }

    def describe(self) -> str:
        """The warning in words, '' when there is none."""
        if not self.warned:
            return ""
        if self.keys:
            return (
                f"the peer does not support the optional key{'s' if len(self.keys) > 1 else ''} "
                f"{', '.join(sorted(self.keys))} (0xFF01): ignored for matching and not "
                "returned, so the matches may be more than asked for"
            )
        return (
            "the peer did not support one or more optional keys for matching (0xFF01) and did "
            "not say which: the matches may be more than asked for"
        )


UNCHECKED = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet"})  # the peer's own


def identifier(level: str, keys: dict[str, str]) -> Dataset:
    """The query identifier: the level's return keys, empty, overridden by ``keys``. A key
    that is not a DICOM keyword is refused with the nearest one, one that cannot be matched
    (binary, a sequence) or whose value does not fit its VR with the reason."""
    if level not in LEVELS:
        raise QueryError(f"a query level is one of {', '.join(LEVELS)}, not {level!r}")
    for keyword, value in keys.items():
        if tag_for_keyword(keyword) is None:
            raise QueryError(_unknown_key(keyword))
        refusal = matching.problem(keyword, value)
        if refusal:
            raise QueryError(refusal)
    dataset = Dataset()
    dataset.QueryRetrieveLevel = "IMAGE" if level == "image" else level.upper()
    for keyword in RETURN_KEYS[level]:
        setattr(dataset, keyword, "")
    for keyword, value in keys.items():
        with warnings.catch_warnings(record=True) as complaints:
            warnings.simplefilter("always")
            try:
                setattr(dataset, keyword, value)
            except (ValueError, TypeError) as error:
                raise QueryError(f"bad query key {keyword}={value!r}: {error}") from error
        if complaints:  # what pydicom still finds wrong: refused, not warned on the console
            raise QueryError(f"bad query key {keyword}={value!r}: {complaints[0].message}")
    return dataset


def _unknown_key(keyword: str) -> str:
    nearest = get_close_matches(keyword, keyword_dict.keys(), n=1, cutoff=0.7)
    hint = f": did you mean {nearest[0]}?" if nearest else " (keys are DICOM keywords)"
    return f"unknown query key {keyword!r}{hint}"


def find(
    connect: Connector,
    peer: Peer,
    level: str,
    keys: dict[str, str],
    *,
    unsupported: Unsupported | None = None,
) -> Iterator[Dataset]:
    """The matches of a C-FIND, as they arrive; closing the iterator early cancels it. A
    series or image find without the unique keys above it first finds those (the studies,
    then the series matching the keys of their levels) and searches within each, as strict
    archives require. ``unsupported`` learns of the optional keys the peer did not support."""
    identifier(level, keys)  # every key checked before anything is sent
    told = Unsupported() if unsupported is None else unsupported
    for unique in _unique_keys(connect, peer, level, keys, told):
        yield from _find(connect, peer, level, unique, told)


def _unique_keys(
    connect: Connector, peer: Peer, level: str, keys: dict[str, str], unsupported: Unsupported
) -> Iterator[dict[str, str]]:
    """``keys`` with the unique keys above ``level`` filled in, once per higher-level match."""
    if level not in ABOVE or keys.get(ABOVE[level][2], "").strip():
        yield keys
        return
    upper_level, upper_keys, unique = ABOVE[level]
    own = {k: v for k, v in keys.items() if k not in upper_keys}
    upper = {k: v for k, v in keys.items() if k in upper_keys}
    parents = [
        {k: str(match.get(k, "")) for k in ("StudyInstanceUID", unique)}
        for match in find(connect, peer, upper_level, upper, unsupported=unsupported)
    ]
    for parent in parents:
        if all(parent.values()):
            yield {**own, **parent}


def _find(
    connect: Connector, peer: Peer, level: str, keys: dict[str, str], unsupported: Unsupported
) -> Iterator[Dataset]:
    query = identifier(level, keys)
    sop_class = PATIENT_ROOT_FIND if level == "patient" else STUDY_ROOT_FIND
    with _exchange(connect, peer, sop_class, dimse.C_FIND_RQ, "", query) as exchange:
        for message in exchange.responses():
            answer = status(FIND, message.status)
            if answer.category == "pending":
                match = (
                    None if message.dataset is None else decode(message.dataset, exchange.syntax)
                )
                if answer.code == PENDING_UNSUPPORTED:
                    unsupported.note(query, match)
                if match is not None:
                    yield match
                continue
            if answer.failed:
                raise QueryError(f"the peer failed the query: {answer.describe()}")
            return


def move(
    connect: Connector, peer: Peer, destination: str, study_uid: str, *, series_uid: str = ""
) -> Iterator[MoveProgress]:
    """A C-MOVE of a study (or one series) to ``destination``, with its progress; closing
    the iterator early cancels it."""
    query = retrieve_identifier(study_uid, series_uid)
    with _exchange(connect, peer, STUDY_ROOT_MOVE, dimse.C_MOVE_RQ, destination, query) as exchange:
        for message in exchange.responses():
            command = message.command
            answer = status(MOVE, message.status)
            failed_uids: tuple[str, ...] = ()
            if message.dataset is not None and answer.category != "pending":
                failed_uids = failed_instances(decode(message.dataset, exchange.syntax))
            remaining, completed, failed, warning = (
                int(command.get(t, 0))
                for t in (dimse.REMAINING, dimse.COMPLETED, dimse.FAILED_COUNT, dimse.WARNING_COUNT)
            )
            progress = MoveProgress(answer, remaining, completed, failed, warning, failed_uids)
            yield progress
            if answer.failed:
                raise QueryError(f"the peer failed the retrieve: {progress.describe()}")
            if answer.category != "pending":
                return


def unreached(node: str, destination: str, where: str) -> str:
    """The usual cause of a failed move into our own listener at ``where`` that nothing
    reached: the archive ``node`` knows our AE title ``destination`` elsewhere."""
    return (
        f"nothing reached our listener on {where}: {node} may know {destination} at another "
        "address or port (its list of known AE titles says)"
    )


def retrieve_identifier(study_uid: str, series_uid: str = "") -> Dataset:
    """The identifier of a C-MOVE or C-GET of a study, or of one of its series (each UID
    checked)."""
    refusal = matching.uid_problem("StudyInstanceUID", study_uid)
    if series_uid and not refusal:
        refusal = matching.uid_problem("SeriesInstanceUID", series_uid)
    if refusal:
        raise QueryError(refusal)
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    query.StudyInstanceUID = study_uid
    if series_uid:
        query.SeriesInstanceUID = series_uid
    return query


def failed_instances(dataset: Dataset) -> tuple[str, ...]:
    """The Failed SOP Instance UID List (0008,0058) of a C-MOVE's or C-GET's final response."""
    value = dataset.get("FailedSOPInstanceUIDList", "")
    values = [value] if isinstance(value, str) else list(value)
    return tuple(str(v) for v in values if str(v))


class _Exchange:
    """One request on its own association, its responses, and the cancel or abort when the
    caller stops before the final response."""

    def __init__(self, association: Association, syntax: str, message_id: int, request: int):
        self.association, self.syntax = association, syntax
        self.message_id, self.request = message_id, request
        self.final = False

    def responses(self) -> Iterator[Message]:
        while True:
            message = self.association.response(1, self.message_id, self.request)
            category = status(dimse.SERVICES[self.request], message.status).category
            self.final = category != "pending"
            yield message

    def cancel(self) -> None:
        """C-CANCEL, then wait briefly for the final response (a peer that does not answer
        is aborted)."""
        try:
            self.association.send_command(1, dimse.cancel_request(self.message_id))
            self.association.timeout = min(self.association.timeout, CANCEL_WAIT)
            for _ in self.responses():
                if self.final:
                    return
        except LinkError as error:
            log.info("the peer did not answer our C-CANCEL: %s", error)


@contextmanager
def _exchange(
    connect: Connector, peer: Peer, sop_class: str, request: int, destination: str, query: Dataset
) -> Iterator[_Exchange]:
    """Open, send the request, hand over the responses; then release after the final
    response, cancel when the caller stopped early, abort on any failure."""
    service = dimse.SERVICES[request]
    association, syntax = open_service(
        connect(),
        peer.called_ae,
        peer.calling_ae,
        sop_class,
        f"{service} for this information model",
    )
    exchange = _Exchange(association, syntax, association.next_message_id(), request)
    try:
        association.send_command(
            1, dimse.query_request(request, exchange.message_id, sop_class, destination)
        )
        payload = encode(query, syntax)
        association.send_dataset(1, [payload], len(payload))
        yield exchange
    except GeneratorExit:
        if not exchange.final:
            exchange.cancel()
        raise
    finally:
        if exchange.final:
            association.release()
        else:
            association.abort()
