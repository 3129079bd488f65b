"""The audit messages DICOM Courier emits, built as PS3.15 A.5.3 describes each event."""

import datetime as dt
import getpass
import logging
import os
import socket
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from desktop.core.audit.message import (
    AuditMessage,
    Code,
    Outcome,
    Participant,
    ParticipantObject,
)

log = logging.getLogger(__name__)
APPLICATION_ACTIVITY = Code("110100", "DCM", "Application Activity")
BEGIN_TRANSFERRING = Code("110102", "DCM", "Begin Transferring DICOM Instances")
INSTANCES_ACCESSED = Code("110103", "DCM", "DICOM Instances Accessed")
INSTANCES_TRANSFERRED = Code("110104", "DCM", "DICOM Instances Transferred")
EXPORT = Code("110106", "DCM", "Export")
IMPORT = Code("110107", "DCM", "Import")
QUERY = Code("110112", "DCM", "Query")
SECURITY_ALERT = Code("110113", "DCM", "Security Alert")
USER_AUTHENTICATION = Code("110114", "DCM", "User Authentication")
EVENTS = {
    c.code: c
    for c in (
        APPLICATION_ACTIVITY,
        BEGIN_TRANSFERRING,
        INSTANCES_ACCESSED,
        INSTANCES_TRANSFERRED,
        EXPORT,
        IMPORT,
        QUERY,
        SECURITY_ALERT,
        USER_AUTHENTICATION,
    )
}

APPLICATION_START = Code("110120", "DCM", "Application Start")
APPLICATION_STOP = Code("110121", "DCM", "Application Stop")
LOGIN = Code("110122", "DCM", "Login")
LOGOUT = Code("110123", "DCM", "Logout")
NODE_AUTHENTICATION = Code("110126", "DCM", "Node Authentication")
SECURITY_CONFIGURATION = Code("110129", "DCM", "Security Configuration")
#: CID 403 is extensible and names no alert for patient data in conflict: a local code.
STUDY_OF_TWO_PATIENTS = Code("STUDY-2-PATIENTS", "99COURIER", "Study UID of Two Patients")

APPLICATION = Code("110150", "DCM", "Application")
LAUNCHER = Code("110151", "DCM", "Application Launcher")
DESTINATION = Code("110152", "DCM", "Destination Role ID")
SOURCE = Code("110153", "DCM", "Source Role ID")
DESTINATION_MEDIA = Code("110154", "DCM", "Destination Media")
SOURCE_MEDIA = Code("110155", "DCM", "Source Media")
URI_MEDIA = Code("110037", "DCM", "URI")

STUDY_UID = Code("110180", "DCM", "Study Instance UID")
SOP_CLASS_UID = Code("110181", "DCM", "SOP Class UID")
NODE_ID = Code("110182", "DCM", "Node ID")
PATIENT_NUMBER = Code("2", "RFC-3881", "Patient Number")

PERSON, SYSTEM_OBJECT = "1", "2"
PATIENT_ROLE, REPORT_ROLE, SECURITY_RESOURCE_ROLE, QUERY_ROLE = "1", "3", "13", "24"
EXPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


@dataclass(frozen=True, slots=True)
class Local:
    """Who reports: this process, the user running it, the machine, our AE title."""

    user: str
    host: str
    pid: int
    ae_title: str = "COURIER"
    application: str = "DICOM Courier"

    @classmethod
    def here(cls, ae_title: str = "COURIER") -> "Local":
        return cls(getpass.getuser(), socket.gethostname(), os.getpid(), ae_title)

    def process(self, *, requestor: bool, roles: tuple[Code, ...] = ()) -> Participant:
        """This application as a participant (AE title, process id, machine)."""
        return Participant(
            self.ae_title,
            requestor,
            roles,
            alternative_user_id=str(self.pid),
            user_name=self.application,
            network_access_point=self.host,
        )

    def person(self) -> Participant:
        return Participant(self.user, True, user_name=self.user)


@dataclass(frozen=True, slots=True)
class Node:
    """A remote application entity: AE title and network address."""

    ae_title: str
    host: str

    def participant(self, *, requestor: bool, role: Code) -> Participant:
        return Participant(self.ae_title, requestor, (role,), network_access_point=self.host)


@dataclass(slots=True)
class Study:
    """What one message says about a study and its patient."""

    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    accession: str = ""
    sop_classes: Counter[str] = field(default_factory=Counter)
    anonymized: bool = False  #: what was sent of it were de-identified copies

    def objects(self) -> tuple[ParticipantObject, ...]:
        study = ParticipantObject(
            self.study_uid,
            STUDY_UID,
            SYSTEM_OBJECT,
            REPORT_ROLE,
            sop_classes=tuple(sorted(self.sop_classes.items())),
            accessions=(self.accession,) if self.accession else (),
            anonymized=self.anonymized,
        )
        patient = ParticipantObject(
            self.patient_id or "unknown",
            PATIENT_NUMBER,
            PERSON,
            PATIENT_ROLE,
            name=self.patient_name,
            anonymized=self.anonymized,
        )
        return study, patient


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def application_activity(
    local: Local, *, started: bool, outcome: Outcome = Outcome.SUCCESS
) -> AuditMessage:
    """110100: the application started or stopped (A.5.3.1)."""
    return AuditMessage(
        APPLICATION_ACTIVITY,
        "E",
        outcome,
        _now(),
        (local.process(requestor=False, roles=(APPLICATION,)), _launcher(local)),
        local.host,
        event_types=(APPLICATION_START if started else APPLICATION_STOP,),
    )


def _launcher(local: Local) -> Participant:
    return Participant(local.user, True, (LAUNCHER,), user_name=local.user)


def begin_transferring(local: Local, destination: Node, study: Study) -> AuditMessage:
    """110102: we begin sending a study's instances to ``destination`` (A.5.3.2)."""
    return AuditMessage(
        BEGIN_TRANSFERRING,
        "E",
        Outcome.SUCCESS,
        _now(),
        (
            local.process(requestor=True, roles=(SOURCE,)),
            destination.participant(requestor=False, role=DESTINATION),
        ),
        local.host,
        objects=study.objects(),
    )


def instances_transferred(
    local: Local,
    *,
    source: Node,
    destination: Node,
    study: Study,
    outcome: Outcome,
    received: bool,
    requestor: Node | None = None,
    description: str = "",
) -> AuditMessage:
    """110104: instances of a study were sent (action R) or received (action C) (A.5.3.4);
    a third party that asked for the transfer (a C-MOVE's ``requestor``) is the requestor."""
    sender = source.participant(requestor=received and requestor is None, role=SOURCE)
    receiver = destination.participant(
        requestor=not received and requestor is None, role=DESTINATION
    )
    third = (
        ()
        if requestor is None
        else (Participant(requestor.ae_title, True, network_access_point=requestor.host),)
    )
    return AuditMessage(
        INSTANCES_TRANSFERRED,
        "C" if received else "R",
        outcome,
        _now(),
        (sender, receiver, *third),
        local.host,
        outcome_description=description,
        objects=study.objects(),
    )


def export(
    local: Local, *, target: str, studies: Iterable[Study], outcome: Outcome, description: str = ""
) -> AuditMessage:
    """110106: instances or images made from them left for media or a file (A.5.3.5)."""
    media = Participant(target, False, (DESTINATION_MEDIA,), media_type=URI_MEDIA)
    return AuditMessage(
        EXPORT,
        "R",
        outcome,
        _now(),
        (local.person(), local.process(requestor=False, roles=(SOURCE,)), media),
        local.host,
        outcome_description=description,
        objects=tuple(o for s in studies for o in s.objects()),
    )


def instances_accessed(
    local: Local,
    *,
    action: str,
    studies: Iterable[Study],
    outcome: Outcome,
    description: str = "",
) -> AuditMessage:
    """110103: the user's process read (``R``) or made (``C``) instances here, as opening
    sealed files or re-identifying does (A.5.3.2)."""
    return AuditMessage(
        INSTANCES_ACCESSED,
        action,
        outcome,
        _now(),
        (local.person(), local.process(requestor=True)),
        local.host,
        outcome_description=description,
        objects=tuple(o for s in studies for o in s.objects()),
    )


def import_(
    local: Local, *, origin: str, studies: Iterable[Study], outcome: Outcome, description: str = ""
) -> AuditMessage:
    """110107: instances were taken in from media or a folder (A.5.3.6)."""
    media = Participant(origin, False, (SOURCE_MEDIA,), media_type=URI_MEDIA)
    return AuditMessage(
        IMPORT,
        "C",
        outcome,
        _now(),
        (local.person(), local.process(requestor=False, roles=(DESTINATION,)), media),
        local.host,
        outcome_description=description,
        objects=tuple(o for s in studies for o in s.objects()),
    )


def query(
    local: Local,
    *,
    peer: Node,
    sop_class: str,
    keys: Mapping[str, str],
    outcome: Outcome,
    answered: bool = False,
    description: str = "",
) -> AuditMessage:
    """110112: a C-FIND with its keys, as the encoded identifier (A.5.3.9): one we sent to
    ``peer``, or one ``peer`` sent us and we ``answered`` (the issuer is the Source)."""
    subject = ParticipantObject(
        sop_class,
        SOP_CLASS_UID,
        SYSTEM_OBJECT,
        QUERY_ROLE,
        query=encode_query(keys),
        details=(("TransferSyntax", EXPLICIT_LITTLE_ENDIAN.encode("ascii")),),
    )
    return AuditMessage(
        QUERY,
        "E",
        outcome,
        _now(),
        (
            peer.participant(requestor=True, role=SOURCE)
            if answered
            else local.process(requestor=True, roles=(SOURCE,)),
            local.process(requestor=False, roles=(DESTINATION,))
            if answered
            else peer.participant(requestor=False, role=DESTINATION),
        ),
        local.host,
        outcome_description=description,
        objects=(subject,),
    )


def encode_query(keys: Mapping[str, str]) -> bytes:
    """The query identifier in Explicit VR Little Endian (keywords pydicom knows); a key that
    cannot be encoded is left out rather than losing the record."""
    import warnings

    from pydicom.dataset import Dataset  # only queries need the DICOM encoder
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    def written(dataset: Dataset) -> bytes:
        buffer = DicomBytesIO()
        buffer.is_little_endian, buffer.is_implicit_VR = True, False
        write_dataset(buffer, dataset)
        return bytes(buffer.getvalue())

    identifier = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for keyword, value in keys.items():
            alone = Dataset()
            try:
                setattr(alone, keyword, value)
                written(alone)
            except Exception as error:  # a key pydicom cannot write (binary, ambiguous VR)
                log.info("the audit record leaves out query key %s: %s", keyword, error)
                continue
            setattr(identifier, keyword, value)
        return written(identifier)


def security_alert(
    local: Local,
    *,
    subject: str,
    description: str,
    outcome: Outcome,
    peer: Node | None = None,
    kind: Code = NODE_AUTHENTICATION,
) -> AuditMessage:
    """110113: a refused or failed node authentication, an untrusted certificate (A.5.3.10).

    ``subject`` names what the alert is about (the peer, as host:port); the outcome says how
    serious: 4 when refusing contained it, 8 when trust itself was in question.
    """
    participants = [local.process(requestor=peer is None)]
    if peer is not None:
        participants.append(Participant(peer.ae_title, True, network_access_point=peer.host))
    alert = ParticipantObject(
        subject,
        NODE_ID,
        SYSTEM_OBJECT,
        SECURITY_RESOURCE_ROLE,
        details=(("Alert Description", description.encode("utf-8")),),
    )
    return AuditMessage(
        SECURITY_ALERT,
        "E",
        outcome,
        _now(),
        tuple(participants),
        local.host,
        event_types=(kind,),
        outcome_description=description,
        objects=(alert,),
    )


def study_of_two_patients(
    local: Local,
    *,
    peer: Node,
    study: Study,
    others: Iterable[str],
    description: str,
    delivered: bool = True,
) -> AuditMessage:
    """110113: ``peer`` delivered ``study`` (its patient) under a Study Instance UID we
    already held for ``others`` (Patient IDs), kept apart, to be checked; or, not
    ``delivered``, asked to retrieve a UID we hold for the study's patient and ``others``,
    refused (A.5.3.10)."""
    patients = tuple(
        ParticipantObject(other, PATIENT_NUMBER, PERSON, PATIENT_ROLE) for other in others
    )
    asking = Participant(peer.ae_title, True, network_access_point=peer.host)
    return AuditMessage(
        SECURITY_ALERT,
        "E",
        Outcome.MINOR_FAILURE,
        _now(),
        (
            local.process(requestor=False),
            peer.participant(requestor=True, role=SOURCE) if delivered else asking,
        ),
        local.host,
        event_types=(STUDY_OF_TWO_PATIENTS,),
        outcome_description=description,
        objects=(*study.objects(), *patients),
    )


def user_authentication(
    local: Local, *, what: str, ok: bool, description: str = ""
) -> AuditMessage:
    """110114 Login: the user unlocked the keystore (``what``), or failed to (A.5.3.11)."""
    return _authentication(
        local,
        LOGIN,
        Outcome.SUCCESS if ok else Outcome.MINOR_FAILURE,
        description or (f"unlocked {what}" if ok else f"{what}: refused"),
    )


def user_logout(local: Local, *, description: str) -> AuditMessage:
    """110114 Logout: secrets held unlocked were forgotten (``description`` says which, and
    why) (A.5.3.11)."""
    return _authentication(local, LOGOUT, Outcome.SUCCESS, description)


def _authentication(local: Local, kind: Code, outcome: Outcome, description: str) -> AuditMessage:
    return AuditMessage(
        USER_AUTHENTICATION,
        "E",
        outcome,
        _now(),
        (local.person(), local.process(requestor=False)),
        local.host,
        event_types=(kind,),
        outcome_description=description,
    )
