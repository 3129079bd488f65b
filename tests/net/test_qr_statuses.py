"""C-MOVE and C-GET statuses by PS3.4 C.4.2/C.4.3: a destination refusing some instances gives
a warning with the Failed SOP Instance UID List, refusing all a failure (A702); a C-CANCEL
between sub-operations ends them with FE00; a malformed role selection item is refused."""

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset

from desktop import auditing
from desktop.connect import node_connector
from desktop.core.config import Node, add_node
from desktop.net import pdu
from desktop.net.get import get
from desktop.net.query import QueryError, move
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.net.store import Peer
from desktop.security.keystore import Keystore
from desktop.serving import cached_connectors, query_retrieve
from tests.audit.reading import audited, instances
from tests.net.conftest import PASSWORD, make_study
from tests.net.memory_archive import MemoryArchive
from tests.peers import LOOPBACK, pynetdicom_scp


@pytest.fixture
def archive(tmp_path: Path) -> MemoryArchive:
    return MemoryArchive(make_study(tmp_path / "study", count=4), delay=0.0)


@pytest.fixture
def listener(
    archive: MemoryArchive, home: Path, tmp_path: Path
) -> Iterator[tuple[StorageListener, list[dict[str, Any]]]]:
    keystore = Keystore(home, lambda new: PASSWORD)
    records: list[dict[str, Any]] = []
    settings = ListenerSettings("COURIER", LOOPBACK, 0, tmp_path / "inbox")
    connectors = cached_connectors(lambda node: node_connector(node, keystore))
    services = query_retrieve(archive, home, connectors)
    auditing.install(home)
    sink = auditing.listener(records.append, "COURIER")
    server = StorageListener(settings, sink, services=services).start()
    yield server, records
    server.stop()
    auditing.uninstall()


def us(port: int, home: Path) -> tuple[Any, Peer]:
    node = Node("us", "COURIER", LOOPBACK, port, calling_ae_title="MOVER")
    return node_connector(node, Keystore(home, lambda new: PASSWORD)), Peer("COURIER", "MOVER")


def study_of(archive: MemoryArchive) -> str:
    return str(archive.headers[0][1].StudyInstanceUID)


def test_a_destination_refusing_some_gives_b000_and_the_failed_list(
    archive: MemoryArchive,
    listener: tuple[StorageListener, list[Any]],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.net.services import retrieve

    monkeypatch.setattr(retrieve, "PENDING_INTERVAL", 0.0)  # a pending after every one
    refused = str(archive.headers[1][1].SOPInstanceUID)

    def status_of(dataset: Dataset) -> int:
        return 0xA700 if dataset.SOPInstanceUID == refused else 0

    with pynetdicom_scp(status_of, ae_title="DEST") as (port, received):
        add_node(home, Node("dest", "DEST", LOOPBACK, port))
        connector, peer = us(listener[0].port, home)
        progress = list(move(connector, peer, "DEST", study_of(archive)))
    final = progress[-1]
    assert final.status.code == 0xB000
    assert (final.completed, final.failed, final.warning) == (3, 1, 0)
    assert final.failed_instances == (refused,)
    assert [p.remaining for p in progress[:-1]] == [3, 2, 1]
    assert [p.completed + p.failed for p in progress[:-1]] == [1, 2, 3]
    assert len(received) == 4
    [moved] = audited(home, "110104", 1)  # the study was partly transferred: minor failure
    assert (moved.outcome, moved.node) == (4, "DEST")
    assert "3 of 4 instance(s) sent to DEST" in moved.summary
    assert instances(moved) == (study_of(archive), "4")


def test_a_quick_move_answers_one_pending_not_one_per_instance(
    archive: MemoryArchive,
    listener: tuple[StorageListener, list[Any]],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pending responses are optional (PS3.4 C.1.4): the first tells the requestor the
    total at once, the next waits PENDING_INTERVAL; one per instance cost a write and the
    requestor a wake-up each."""
    from desktop.net.services import retrieve

    monkeypatch.setattr(retrieve, "PENDING_INTERVAL", 60.0)
    with pynetdicom_scp(lambda dataset: 0, ae_title="DEST") as (port, received):
        add_node(home, Node("dest", "DEST", LOOPBACK, port))
        connector, peer = us(listener[0].port, home)
        progress = list(move(connector, peer, "DEST", study_of(archive)))
    assert [(p.status.code, p.remaining, p.completed) for p in progress] == [
        (0xFF00, 3, 1),
        (0x0000, 0, 4),
    ]
    assert len(received) == 4


def test_a_destination_refusing_all_gives_a702(
    archive: MemoryArchive, listener: tuple[StorageListener, list[Any]], home: Path
) -> None:
    with pynetdicom_scp(lambda dataset: 0xC000, ae_title="DEST") as (port, _):
        add_node(home, Node("dest", "DEST", LOOPBACK, port))
        connector, peer = us(listener[0].port, home)
        with pytest.raises(QueryError, match="0xA702") as raised:
            list(move(connector, peer, "DEST", study_of(archive)))
    assert "failed instances" in str(raised.value)
    answered = [r for r in listener[1] if r["event"] == "retrieve-answered"]
    assert answered[-1]["failed"] == 4 and len(answered[-1]["failed_instances"]) == 4
    [moved] = audited(home, "110104", 1)  # nothing of the study arrived: serious failure
    assert moved.outcome == 8 and "0 of 4 instance(s) sent to DEST" in moved.summary


def test_closing_our_get_cancels_the_remaining_sub_operations(
    archive: MemoryArchive,
    listener: tuple[StorageListener, list[Any]],
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.net.services import retrieve

    real = retrieve.Tally.count

    def slowly(self: retrieve.Tally, instance: str, category: str) -> None:
        time.sleep(0.3)  # the store is slow: the cancel arrives between sub-operations
        real(self, instance, category)

    monkeypatch.setattr(retrieve.Tally, "count", slowly)
    connector, peer = us(listener[0].port, home)
    settings = ListenerSettings("MOVER", out=tmp_path / "got")
    progress = get(connector, peer, settings, lambda record: None, study_uid=study_of(archive))
    next(progress)
    progress.close()
    deadline = time.monotonic() + 10
    while not [r for r in listener[1] if r["event"] == "retrieve-answered"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answered = [r for r in listener[1] if r["event"] == "retrieve-answered"][-1]
    assert answered["status"] == 0xFE00 and answered["completed"] < 4


def test_a_malformed_role_selection_item_is_refused(
    listener: tuple[StorageListener, list[Any]],
) -> None:
    context = pdu.ProposedContext(1, "1.2.840.10008.1.1", ("1.2.840.10008.1.2",))
    request = pdu.associate_request("COURIER", "HOSTILE", [context], 16384)
    bad_role = struct.pack(">BBHH", 0x54, 0, 7, 40) + b"1.2\x00\x01"  # claims a 40-byte UID
    user_at = request.rindex(b"\x50\x00")
    user = request[user_at:]
    length = struct.unpack(">H", user[2:4])[0] + len(bad_role)
    patched = request[:user_at] + b"\x50\x00" + struct.pack(">H", length) + user[4:] + bad_role
    patched = patched[:2] + struct.pack(">I", len(patched) - 6) + patched[6:]
    with socket.create_connection((LOOPBACK, listener[0].port), timeout=5) as raw:
        raw.sendall(patched)
        answer = raw.recv(10)
    assert answer[0] == pdu.A_ABORT
    aborted = [r for r in listener[1] if r["event"] == "association-aborted"]
    assert "role selection" in aborted[0]["reason"]


def test_a_peer_announcing_a_tiny_maximum_pdu_still_gets_its_matches(
    listener: tuple[StorageListener, list[Any]],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A maximum PDU length of 3 leaves no room for data in a PDU: the listener sends 1-byte
    fragments rather than frame forever."""
    from desktop.net.query import find

    original = pdu.associate_request

    def tiny(called: str, calling: str, contexts: Any, _: int, roles: Any = ()) -> bytes:
        return original(called, calling, contexts, 3, roles)

    monkeypatch.setattr(pdu, "associate_request", tiny)
    connector, peer = us(listener[0].port, home)
    matches = list(find(connector, peer, "image", {"PatientID": "NET-1", "SeriesInstanceUID": ""}))
    assert len(matches) == 4


def test_a_match_that_cannot_be_encoded_fails_the_find_not_the_association(
    archive: MemoryArchive,
    listener: tuple[StorageListener, list[Any]],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.net.query import find

    real = archive.find

    def broken(**query: Any) -> Iterator[Dataset]:
        for match in real(**query):
            match.add_new(0x00280010, "US", "not a number")  # Rows
            yield match

    monkeypatch.setattr(archive, "find", broken)
    connector, peer = us(listener[0].port, home)
    with pytest.raises(QueryError, match="0xC000"):
        list(find(connector, peer, "study", {}))
    answered = [r for r in listener[1] if r["event"] == "query-answered"]
    assert "cannot be encoded" in answered[-1]["reason"]
    assert not [r for r in listener[1] if r["event"] == "association-aborted"]
