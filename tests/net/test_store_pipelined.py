"""The next C-STORE leaves as soon as the one before is answered, before the caller has
recorded that answer: the link does not idle while the queue, the audit and the screen catch
up (issue #14: at 100 Mbit/s the link idled 2-4 ms per instance for them)."""

import os
import time
from pathlib import Path

import pydicom
import pytest

from desktop.connect import node_connector
from desktop.core.config import Node
from desktop.net.store import Peer, SessionEvent, StoreItem, StoreOutcome, store
from desktop.security.keystore import Keystore
from tests.net.conftest import PASSWORD, Scp, make_study
from tests.peers import LOOPBACK

pytestmark = pytest.mark.dcmtk


def items(folder: Path, count: int) -> list[StoreItem]:
    found = []
    for path in make_study(folder, count=count):
        meta = pydicom.dcmread(path, stop_before_pixels=True)
        syntax = str(meta.file_meta.TransferSyntaxUID)
        found.append(StoreItem(path, str(meta.SOPClassUID), str(meta.SOPInstanceUID), syntax))
    return found


def arrived(scp: Scp, count: int, within: float) -> int:
    """The files storescp holds once it holds ``count`` of them, or when ``within`` passed."""
    end = time.monotonic() + within
    while len(list(scp.out.iterdir())) < count and time.monotonic() < end:
        time.sleep(0.05)
    return len(list(scp.out.iterdir()))


def test_the_next_instance_is_on_its_way_while_an_answer_is_recorded(
    home: Path, storescp: Scp, tmp_path: Path
) -> None:
    node = Node("pacs", "DCMTK_SCP", LOOPBACK, storescp.port, tls=True, identity="courier")
    connect = node_connector(node, Keystore(home, lambda new: PASSWORD))
    sending = store(connect, Peer("DCMTK_SCP", "COURIER"), items(tmp_path / "study", 3))
    records = []
    for record in sending:
        records.append(record)
        if isinstance(record, StoreOutcome):
            break  # the first answer, not yet taken further
    assert isinstance(records[-1], StoreOutcome) and records[-1].ok
    assert arrived(storescp, 2, within=10.0) == 2  # the second was sent meanwhile
    records += list(sending)
    outcomes = [r for r in records if isinstance(r, StoreOutcome)]
    assert [o.ok for o in outcomes] == [True, True, True]
    assert isinstance(records[-1], SessionEvent) and records[-1].kind == "closed"
    assert arrived(storescp, 3, within=10.0) == 3


def test_stopping_after_an_answer_aborts_with_the_next_one_unanswered(
    home: Path, storescp: Scp, tmp_path: Path
) -> None:
    """A caller that stops (a pause, a cancel) leaves the rest pending: nothing after the
    answer it saw is reported, and the association is aborted, not released."""
    node = Node("pacs", "DCMTK_SCP", LOOPBACK, storescp.port, tls=True, identity="courier")
    connect = node_connector(node, Keystore(home, lambda new: PASSWORD))
    sending = store(connect, Peer("DCMTK_SCP", "COURIER"), items(tmp_path / "study", 3))
    outcomes = []
    for record in sending:
        if isinstance(record, StoreOutcome):
            outcomes.append(record)
            break
    sending.close()
    assert len(outcomes) == 1 and outcomes[0].ok
    time.sleep(0.5)
    log = storescp.log.read_text()
    assert "Received Store Request" in log and "Association Release" not in log


def test_the_next_file_is_read_while_the_peer_stores_and_a_bad_one_fails_alone(
    home: Path, storescp: Scp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file is checked, read and framed while the peer stores the one before (before
    that one's answer is awaited); one cut short by then is refused before a byte of it
    leaves, alone: the association carries the others on."""
    from desktop.net import store as store_module

    node = Node("pacs", "DCMTK_SCP", LOOPBACK, storescp.port, tls=True, identity="courier")
    connect = node_connector(node, Keystore(home, lambda new: PASSWORD))
    queued = items(tmp_path / "study", 4)
    events: list[str] = []
    checked = store_module._check
    answered = store_module.Association.response

    def check(item: StoreItem) -> tuple[int, int, str]:
        result = checked(item)
        events.append(f"read {queued.index(item)}")
        if item is queued[2]:
            os.truncate(item.path, item.path.stat().st_size // 2)
        return result

    def response(self: object, *args: object, **kwargs: object) -> object:
        events.append("answer")
        return answered(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "_check", check)
    monkeypatch.setattr(store_module.Association, "response", response)
    records = list(store(connect, Peer("DCMTK_SCP", "COURIER"), queued))
    assert events[:4] == ["read 0", "read 1", "answer", "read 2"]
    outcomes = [r for r in records if isinstance(r, StoreOutcome)]
    assert [o.ok for o in outcomes] == [True, True, False, True]
    assert "not stored: the file ended" in outcomes[2].message
    assert [r.kind for r in records if isinstance(r, SessionEvent)] == ["opened", "closed"]
    assert arrived(storescp, 3, within=10.0) == 3
