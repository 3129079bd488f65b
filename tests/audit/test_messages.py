"""Every kind of audit message we emit validates against the schema of PS3.15 A.5.1."""

import base64
from collections import Counter

import pytest
from lxml import etree
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset

from desktop.core.audit import events
from desktop.core.audit.message import AuditMessage, Outcome, to_xml
from tests.audit.reading import objects_by_role, study_count
from tests.audit.schema import schema_errors

LOCAL = events.Local("alice", "workstation.example", 4242, "COURIER")
PACS = events.Node("PACS", "10.1.2.3")
STUDY = events.Study(
    "1.2.826.0.1.3680043.8.498.1",
    "PID-7",
    "Doe^Jane",
    "ACC-9",
    Counter({"1.2.840.10008.5.1.4.1.1.2": 12, "1.2.840.10008.5.1.4.1.1.4": 3}),
)


def all_messages() -> dict[str, AuditMessage]:
    return {
        "start": events.application_activity(LOCAL, started=True),
        "stop": events.application_activity(LOCAL, started=False),
        "begin": events.begin_transferring(LOCAL, PACS, STUDY),
        "sent": events.instances_transferred(
            LOCAL,
            source=events.Node("COURIER", LOCAL.host),
            destination=PACS,
            study=STUDY,
            outcome=Outcome.MINOR_FAILURE,
            received=False,
            description="14 of 15 stored",
        ),
        "received": events.instances_transferred(
            LOCAL,
            source=events.Node("MODALITY", "192.0.2.7"),
            destination=events.Node("COURIER", LOCAL.host),
            study=events.Study("1.2.3", sop_classes=Counter({"1.2.840.10008.5.1.4.1.1.7": 1})),
            outcome=Outcome.SUCCESS,
            received=True,
        ),
        "export": events.export(
            LOCAL, target="file:///tmp/frame.png", studies=[STUDY], outcome=Outcome.SUCCESS
        ),
        "import": events.import_(
            LOCAL, origin="file:///media/cdrom", studies=[STUDY], outcome=Outcome.SUCCESS
        ),
        "query": events.query(
            LOCAL,
            peer=PACS,
            sop_class="1.2.840.10008.5.1.4.1.2.2.1",
            keys={"QueryRetrieveLevel": "STUDY", "PatientName": "DOE*", "StudyInstanceUID": ""},
            outcome=Outcome.SUCCESS,
        ),
        "query-answered": events.query(
            LOCAL,
            peer=PACS,
            sop_class="1.2.840.10008.5.1.4.1.2.2.1",
            keys={"QueryRetrieveLevel": "STUDY", "PatientID": "QR-1"},
            outcome=Outcome.SUCCESS,
            answered=True,
        ),
        "alert": events.security_alert(
            LOCAL,
            subject="10.1.2.3:2762",
            description="the server's certificate is not signed by a CA we trust",
            outcome=Outcome.SERIOUS_FAILURE,
            peer=PACS,
        ),
        "unlock": events.user_authentication(LOCAL, what="identity courier", ok=True),
        "unlock-failed": events.user_authentication(
            LOCAL, what="identity courier", ok=False, description="wrong keystore password"
        ),
        "lock": events.user_logout(LOCAL, description="locked the keystore: asked to"),
    }


@pytest.mark.parametrize("name", sorted(all_messages()))
def test_every_message_validates_against_the_schema(name: str) -> None:
    assert schema_errors(to_xml(all_messages()[name])) == []


def test_the_schema_check_refuses_what_the_standard_does_not_allow() -> None:
    xml = to_xml(all_messages()["start"])
    assert schema_errors(xml.replace('EventOutcomeIndicator="0"', 'EventOutcomeIndicator="5"'))
    root = etree.fromstring(to_xml(all_messages()["begin"]))
    root.remove(root.find("AuditSourceIdentification"))
    assert schema_errors(etree.tostring(root))
    patient = etree.fromstring(to_xml(all_messages()["begin"]))
    name = patient.find("ParticipantObjectIdentification/ParticipantObjectName")
    name.getparent().remove(name)  # a participant object needs a name or a query
    assert schema_errors(etree.tostring(patient))


def test_codes_and_participants_are_those_of_the_standard() -> None:
    messages = all_messages()
    root = etree.fromstring(to_xml(messages["begin"]))
    assert root.find("EventIdentification/EventID").get("csd-code") == "110102"
    roles = {
        p.get("UserID"): p.find("RoleIDCode").get("csd-code")
        for p in root.findall("ActiveParticipant")
    }
    assert roles == {"COURIER": "110153", "PACS": "110152"}
    pacs = next(p for p in root.findall("ActiveParticipant") if p.get("UserID") == "PACS")
    assert (pacs.get("NetworkAccessPointID"), pacs.get("NetworkAccessPointTypeCode")) == (
        "10.1.2.3",
        "2",
    )
    objects = objects_by_role(root)
    assert objects["3"].get("ParticipantObjectID") == STUDY.study_uid
    assert study_count(objects["3"]) == "12"
    assert objects["1"].findtext("ParticipantObjectName") == "Doe^Jane"
    sent = etree.fromstring(to_xml(messages["sent"])).find("EventIdentification")
    assert (sent.get("EventOutcomeIndicator"), sent.get("EventActionCode")) == ("4", "R")
    alert = etree.fromstring(to_xml(messages["alert"])).find("EventIdentification")
    assert alert.find("EventTypeCode").get("csd-code") == "110126"
    assert alert.get("EventOutcomeIndicator") == "8"
    failed = etree.fromstring(to_xml(messages["unlock-failed"])).find("EventIdentification")
    assert failed.get("EventOutcomeIndicator") == "4"
    locked = etree.fromstring(to_xml(messages["lock"])).find("EventIdentification")
    assert locked.find("EventID").get("csd-code") == "110114"
    assert locked.find("EventTypeCode").get("csd-code") == "110123"  # Logout


def test_the_query_message_carries_the_query_keys() -> None:
    root = etree.fromstring(to_xml(all_messages()["query"]))
    encoded = base64.b64decode(
        root.findtext("ParticipantObjectIdentification/ParticipantObjectQuery")
    )
    buffer = DicomBytesIO(encoded)
    identifier = read_dataset(buffer, is_implicit_VR=False, is_little_endian=True)
    assert identifier.PatientName == "DOE*"
    assert identifier.QueryRetrieveLevel == "STUDY"
    assert "StudyInstanceUID" in identifier


def test_an_answered_query_names_its_issuer_as_the_source() -> None:
    root = etree.fromstring(to_xml(all_messages()["query-answered"]))
    roles = {
        p.get("UserID"): (p.find("RoleIDCode").get("csd-code"), p.get("UserIsRequestor"))
        for p in root.findall("ActiveParticipant")
    }
    assert roles == {"PACS": ("110153", "true"), "COURIER": ("110152", "false")}


def test_a_study_uid_of_two_patients_is_audited_as_two_studies() -> None:
    from desktop.core.audit.studies import group_by_study

    found = [events.Study("1.2.3", "P1", "Doe^John", "A1") for _ in range(3)]
    found.append(events.Study("1.2.3", "OTHER-42", "Other^Patient", "A1"))
    for study in found:
        study.sop_classes["1.2.840.10008.5.1.4.1.1.2"] += 1
    grouped = group_by_study(found)
    assert {key: sum(s.sop_classes.values()) for key, s in grouped.items()} == {
        ("1.2.3", "P1"): 3,
        ("1.2.3", "OTHER-42"): 1,
    }
    assert grouped["1.2.3", "OTHER-42"].patient_name == "Other^Patient"


def test_control_characters_a_file_holds_leave_the_message_well_formed() -> None:
    """A patient name or ID with control characters (a hostile or broken file: ESC, NUL,
    BEL) made the transfer's audit messages not XML at all, which an audit repository
    refuses (E8 of findings8): they are written as visible escapes."""
    hostile = events.Study(
        "1.2.3", "ID\x00\x1b[31mRED", "Evil\x01\x07^Name<x>&\ud800", "ACC\x0b", STUDY.sop_classes
    )
    message = events.begin_transferring(LOCAL, PACS, hostile)
    xml = to_xml(message)
    assert schema_errors(xml) == []
    assert etree.fromstring(xml.encode()) is not None
    assert "ID\\x00\\x1b[31mRED" in xml and "Evil\\x01\\x07^Name&lt;x&gt;&amp;\\ud800" in xml
