"""Reading back what the audit trail recorded, in tests: messages of an event (each valid by
the schema), their participants' roles, the study a transfer names."""

import time
from pathlib import Path

from lxml import etree

from desktop.core.audit.store import AuditLog, Entry
from tests.audit.schema import schema_errors


def audited(home: Path, event: str, count: int) -> list[Entry]:
    """The trail's messages of ``event`` once there are ``count`` (the listener records them
    after its final response), each valid by the schema."""
    deadline = time.monotonic() + 10
    while True:
        found = [e for e in AuditLog(home / "audit").entries() if e.event == event]
        if len(found) >= count or time.monotonic() > deadline:
            assert all(schema_errors(e.xml) == [] for e in found)
            return found
        time.sleep(0.05)


def roles(entry: Entry) -> dict[str, tuple[str, str]]:
    """Each active participant's role code ('' for none) and whether it is the requestor."""
    return {
        p.get("UserID"): (p.xpath("string(RoleIDCode/@csd-code)"), p.get("UserIsRequestor"))
        for p in etree.fromstring(entry.xml).findall("ActiveParticipant")
    }


def instances(entry: Entry) -> tuple[str, str]:
    """The study a 110104 names and its number of instances."""
    study = etree.fromstring(entry.xml).find("ParticipantObjectIdentification")
    return study.get("ParticipantObjectID"), study_count(study)


def objects_by_role(root: etree._Element) -> dict[str, etree._Element]:
    """A message's participant objects by their type code role ("1" the patient, "3" the
    study ...)."""
    return {
        o.get("ParticipantObjectTypeCodeRole"): o
        for o in root.iter("ParticipantObjectIdentification")
    }


def study_count(study: etree._Element) -> str:
    """The number of instances a study participant object names."""
    return study.find("ParticipantObjectDescription/SOPClass").get("NumberOfInstances")
