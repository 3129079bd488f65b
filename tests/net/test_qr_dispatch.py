"""The listener's service dispatch: requests other than C-STORE and C-ECHO reach their
service; C-CANCEL reaches the exchange between pending responses; role selection is answered;
the access list decides which services a calling AE title gets."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from desktop.connect import node_connector
from desktop.core.config import Node
from desktop.net import pdu
from desktop.net.association import Association
from desktop.net.catalogue import STUDY_ROOT_GET
from desktop.net.get import get
from desktop.net.query import QueryError, find
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.net.services.find import find_service
from desktop.net.services.get import get_service
from desktop.net.store import Peer, StoreItem, StoreOutcome, store
from desktop.security.keystore import Keystore
from tests.net.conftest import PASSWORD, make_study, same_dataset
from tests.net.memory_archive import MemoryArchive

Start = Callable[..., tuple[StorageListener, list[dict[str, Any]]]]
CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[StorageListener] = []

    def start_one(archive: Any, *allowed: str) -> tuple[StorageListener, list[dict[str, Any]]]:
        records: list[dict[str, Any]] = []
        settings = ListenerSettings("COURIER", "127.0.0.1", 0, tmp_path / "inbox", list(allowed))
        services = [find_service(archive), get_service(archive)]
        listener = StorageListener(settings, records.append, services=services)
        started.append(listener.start())
        return listener, records

    yield start_one
    for listener in started:
        listener.stop()


def connection(port: int, home: Path, calling: str = "FINDSCU") -> tuple[Any, Peer]:
    node = Node("us", "COURIER", "127.0.0.1", port, calling_ae_title=calling)
    return node_connector(node, Keystore(home, lambda new: PASSWORD)), Peer("COURIER", calling)


def wait_for(records: list[dict[str, Any]], event: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in records if r["event"] == event]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no {event} record in {records}")


def test_a_find_reaches_its_service_and_every_match_comes_back(
    start: Start, tmp_path: Path, home: Path
) -> None:
    files = make_study(tmp_path / "study", count=3)
    listener, records = start(MemoryArchive(files))
    connector, peer = connection(listener.port, home)
    series = list(find(connector, peer, "image", {"PatientID": "NET-1"}))
    assert len(series) == 3
    assert {str(m.SOPInstanceUID) for m in series} == {
        str(h.SOPInstanceUID) for _, h in MemoryArchive(files).headers
    }
    answered = [r for r in records if r["event"] == "query-answered"]
    assert [(r["level"], r["status"]) for r in answered] == [
        ("STUDY", 0),
        ("SERIES", 0),
        ("IMAGE", 0),
    ]


def test_a_cancel_between_pending_responses_ends_the_find(
    start: Start, tmp_path: Path, home: Path
) -> None:
    files = make_study(tmp_path / "study", count=20)
    archive = MemoryArchive(files, delay=0.2)
    listener, records = start(archive)
    connector, peer = connection(listener.port, home)
    series = str(archive.headers[0][1].SeriesInstanceUID)
    matches = find(connector, peer, "image", {"SeriesInstanceUID": series})
    next(matches)
    matches.close()  # our requestor sends C-CANCEL
    answered = wait_for(records, "query-answered")
    assert answered["status"] == 0xFE00
    assert answered["matches"] < 20


def test_a_bad_level_is_refused_with_a900(start: Start, tmp_path: Path, home: Path) -> None:
    files = make_study(tmp_path / "study", count=1)
    listener, records = start(MemoryArchive(files))
    connector, peer = connection(listener.port, home)
    with pytest.raises(QueryError, match="0xA900"):
        list(find(connector, peer, "patient", {"QueryRetrieveLevel": "WARD"}))
    assert "WARD" in wait_for(records, "query-answered")["reason"]


def test_role_selection_is_answered_for_the_accepted_classes(
    start: Start, tmp_path: Path, home: Path
) -> None:
    listener, _ = start(MemoryArchive([]))
    connector, _ = connection(listener.port, home)
    association = Association.request(
        connector(),
        "COURIER",
        "GETSCU",
        [
            pdu.ProposedContext(1, CT, ("1.2.840.10008.1.2.1",)),
            pdu.ProposedContext(3, "1.2.3.4.5", ("1.2.840.10008.1.2.1",)),
            pdu.ProposedContext(5, STUDY_ROOT_GET, ("1.2.840.10008.1.2.1",)),
        ],
        (pdu.RoleSelection(CT, 0, 1), pdu.RoleSelection("1.2.3.4.5", 0, 1)),
    )
    try:
        assert association.accepted(1) is not None
        assert association.accepted(3) is None  # a private class, not accepted
        assert association.roles == {CT: (0, 1)}
    finally:
        association.release()


def test_storage_contexts_declined_beside_a_granted_service_are_no_refusal(
    start: Start, tmp_path: Path, home: Path
) -> None:
    """Tester's F5: an SCU proposing storage beside the C-GET it may use got a security
    alert ('refused') for each retrieval; a title left nothing it may use is refused."""
    listener, records = start(MemoryArchive([]), "GETSCU/retrieve", "FINDSCU/query")
    connector, _ = connection(listener.port, home)
    proposed = [
        pdu.ProposedContext(1, CT, ("1.2.840.10008.1.2.1",)),
        pdu.ProposedContext(3, STUDY_ROOT_GET, ("1.2.840.10008.1.2.1",)),
    ]
    association = Association.request(connector(), "COURIER", "GETSCU", proposed, ())
    try:
        assert association.accepted(3) is not None and association.accepted(1) is None
    finally:
        association.release()
    declined = wait_for(records, "contexts-declined")
    assert (declined["calling"], declined["service"]) == ("GETSCU", "store")
    association = Association.request(connector(), "COURIER", "FINDSCU", proposed, ())
    association.release()
    refused = wait_for(records, "access-refused")
    assert refused["calling"] == "FINDSCU" and refused["service"] == "retrieve,store"
    assert [r["calling"] for r in records if r["event"] == "access-refused"] == ["FINDSCU"]


def test_a_title_granted_only_queries_may_not_store(
    start: Start, tmp_path: Path, home: Path
) -> None:
    files = make_study(tmp_path / "study", count=1)
    listener, records = start(MemoryArchive(files), "FINDSCU/query")
    connector, peer = connection(listener.port, home)
    assert len(list(find(connector, peer, "study", {}))) == 1
    item = StoreItem(files[0], CT, str(MemoryArchive(files).headers[0][1].SOPInstanceUID), "")
    outcomes = [o for o in store(connector, peer, [item]) if isinstance(o, StoreOutcome)]
    assert not outcomes[0].ok and "user rejection" in outcomes[0].message
    refused = wait_for(records, "access-refused")
    assert refused["service"] == "store" and refused["calling"] == "FINDSCU"


def test_our_get_retrieves_a_study_on_one_association(
    start: Start, tmp_path: Path, home: Path
) -> None:
    files = make_study(tmp_path / "study", count=4)
    archive = MemoryArchive(files)
    listener, records = start(archive)
    connector, peer = connection(listener.port, home, "GETSCU")
    stored: list[dict[str, Any]] = []
    settings = ListenerSettings("GETSCU", out=tmp_path / "got")
    study = str(archive.headers[0][1].StudyInstanceUID)
    progress = list(get(connector, peer, settings, stored.append, study_uid=study))
    assert progress[-1].status.code == 0 and progress[-1].completed == 4
    got = {Path(r["path"]).name: Path(r["path"]) for r in stored if r["event"] == "stored"}
    assert len(got) == 4
    for sent in files:
        uid = str(pydicom.dcmread(sent, stop_before_pixels=True).SOPInstanceUID)
        assert same_dataset(sent, got[f"{uid}.dcm"])
    assert wait_for(records, "retrieve-answered")["completed"] == 4


def test_a_find_answers_in_the_stored_character_set(
    start: Start, tmp_path: Path, home: Path
) -> None:
    """Names in UTF-8 (ISO_IR 192) are matched and come back as stored, their Specific
    Character Set with them (the real store, not the in-test archive)."""
    from desktop.core.store import Store
    from desktop.core.store.importing import import_media

    files = make_study(tmp_path / "study", count=1)
    dataset = pydicom.dcmread(files[0])
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.PatientName = "Gürbüz^Ünal"
    dataset.save_as(files[0])
    with Store(tmp_path / "store") as store:
        assert len(list(import_media(store, [tmp_path / "study"]))) == 1
        listener, _ = start(store)
        connector, peer = connection(listener.port, home)
        matches = list(find(connector, peer, "study", {"PatientName": "Gür*"}))
    assert [(str(m.PatientName), m.SpecificCharacterSet) for m in matches] == [
        ("Gürbüz^Ünal", "ISO_IR 192")
    ]
