"""One audit message as data, and its XML per the DICOM Audit Message Schema (PS3.15 A.5.1)."""

import base64
import datetime as dt
import ipaddress
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import IntEnum


class Outcome(IntEnum):
    """EventOutcomeIndicator values of PS3.15 A.5.1."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12

    @property
    def words(self) -> str:
        """The outcome in words: "success", "minor failure" ..."""
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value: code, coding scheme and meaning (csd-code, codeSystemName, originalText)."""

    code: str
    scheme: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Participant:
    """An ActiveParticipant: a user, a process or a node taking part in the event."""

    user_id: str
    requestor: bool
    roles: tuple[Code, ...] = ()
    alternative_user_id: str = ""
    user_name: str = ""
    network_access_point: str = ""  # a host name or an IP address
    media_type: Code | None = None


@dataclass(frozen=True, slots=True)
class ParticipantObject:
    """A ParticipantObjectIdentification: a study, a patient, a query, an alert subject..."""

    object_id: str
    id_type: Code
    type_code: str  # 1 person, 2 system object, 3 organization, 4 other
    role: str  # 1 patient, 3 report, 13 security resource, 24 query, ...
    name: str = ""
    query: bytes = b""  # instead of a name: the encoded query
    details: tuple[tuple[str, bytes], ...] = ()
    sop_classes: tuple[tuple[str, int], ...] = ()  # (SOP Class UID, number of instances)
    accessions: tuple[str, ...] = ()
    life_cycle: str = ""
    anonymized: bool = False  #: the instances were de-identified copies


@dataclass(frozen=True, slots=True)
class AuditMessage:
    """An audit event: what happened, when, with what outcome, who took part, on what."""

    event: Code
    action: str  # C, R, U, D or E
    outcome: Outcome
    time: dt.datetime
    participants: tuple[Participant, ...]
    source_id: str
    event_types: tuple[Code, ...] = ()
    outcome_description: str = ""
    objects: tuple[ParticipantObject, ...] = field(default=())
    site_id: str = ""

    def summary(self) -> str:
        """One line for listings: the event's meaning, its types and outcome description."""
        kinds = ", ".join(t.meaning for t in self.event_types)
        text = self.event.meaning + (f" ({kinds})" if kinds else "")
        return text + (f": {self.outcome_description}" if self.outcome_description else "")


APPLICATION_SERVER = "4"  # Audit Source Type Code: application server process or thread


#: What XML 1.0 cannot hold (C0 controls but tab, line feed and carriage return, lone
#: surrogates, U+FFFE and U+FFFF), which a value read from a file may: written as escapes.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def to_xml(message: AuditMessage) -> str:
    """The message as compact XML (one line: syslog receivers escape line breaks)."""
    root = ET.Element("AuditMessage")
    event = ET.SubElement(
        root,
        "EventIdentification",
        EventActionCode=message.action,
        EventDateTime=message.time.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
        EventOutcomeIndicator=str(int(message.outcome)),
    )
    _coded(event, "EventID", message.event)
    for kind in message.event_types:
        _coded(event, "EventTypeCode", kind)
    if message.outcome_description:
        ET.SubElement(event, "EventOutcomeDescription").text = message.outcome_description
    for participant in message.participants:
        _participant(root, participant)
    source = ET.SubElement(root, "AuditSourceIdentification", AuditSourceID=message.source_id)
    if message.site_id:
        source.set("AuditEnterpriseSiteID", message.site_id)
    ET.SubElement(source, "AuditSourceTypeCode", {"csd-code": APPLICATION_SERVER})
    for item in message.objects:
        _object(root, item)
    return NOT_XML.sub(_visible, ET.tostring(root, encoding="unicode"))


def _visible(character: re.Match[str]) -> str:
    code = ord(character.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _coded(parent: ET.Element, tag: str, code: Code) -> ET.Element:
    attributes = {
        "csd-code": code.code,
        "codeSystemName": code.scheme,
        "originalText": code.meaning,
    }
    return ET.SubElement(parent, tag, attributes)


def _participant(root: ET.Element, participant: Participant) -> None:
    element = ET.SubElement(
        root,
        "ActiveParticipant",
        UserID=participant.user_id,
        UserIsRequestor="true" if participant.requestor else "false",
    )
    if participant.alternative_user_id:
        element.set("AlternativeUserID", participant.alternative_user_id)
    if participant.user_name:
        element.set("UserName", participant.user_name)
    if participant.network_access_point:
        element.set("NetworkAccessPointID", participant.network_access_point)
        element.set("NetworkAccessPointTypeCode", _access_point_type(participant))
    for role in participant.roles:
        _coded(element, "RoleIDCode", role)
    if participant.media_type is not None:
        media = ET.SubElement(element, "MediaIdentifier")
        _coded(media, "MediaType", participant.media_type)


def _access_point_type(participant: Participant) -> str:
    """1 for a machine name, 2 for an IP address."""
    try:
        ipaddress.ip_address(participant.network_access_point)
    except ValueError:
        return "1"
    return "2"


def _object(root: ET.Element, item: ParticipantObject) -> None:
    element = ET.SubElement(
        root,
        "ParticipantObjectIdentification",
        ParticipantObjectID=item.object_id,
        ParticipantObjectTypeCode=item.type_code,
        ParticipantObjectTypeCodeRole=item.role,
    )
    if item.life_cycle:
        element.set("ParticipantObjectDataLifeCycle", item.life_cycle)
    _coded(element, "ParticipantObjectIDTypeCode", item.id_type)
    if item.query:
        ET.SubElement(element, "ParticipantObjectQuery").text = _base64(item.query)
    else:
        ET.SubElement(element, "ParticipantObjectName").text = item.name or item.object_id
    for kind, value in item.details:
        ET.SubElement(element, "ParticipantObjectDetail", type=kind, value=_base64(value))
    if item.sop_classes or item.accessions or item.anonymized:
        description = ET.SubElement(element, "ParticipantObjectDescription")
        for number in item.accessions:
            ET.SubElement(description, "Accession", Number=number)
        for uid, count in item.sop_classes:
            ET.SubElement(description, "SOPClass", UID=uid, NumberOfInstances=str(count))
        if item.anonymized:
            ET.SubElement(description, "Anonymized").text = "true"


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
