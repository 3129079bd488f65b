"""A cancel ends a send that waits on a silent peer (one that accepted the association and the
C-STORE, then says nothing) within a second, not the node's network timeout, and records
nothing the peer did not answer."""

import threading
import time
from pathlib import Path

import pydicom
import pytest

from desktop.net.cancel import Cancel
from desktop.net.queue import PENDING, TransferQueue
from desktop.net.runner import Record, run_job
from desktop.net.store import Peer, StoreItem, StoreOutcome
from tests.net.conftest import make_study
from tests.net.scripted_peer import Conversation, scripted_peer
from tests.net.test_send_interrupted import store_left_unanswered

NETWORK_TIMEOUT = 60.0  # the node's: what a cancel must not wait for
PROMPT = 1.0  # what it may take instead (thread scheduling on a loaded machine included)


@pytest.fixture
def items(tmp_path: Path) -> list[StoreItem]:
    paths = make_study(tmp_path / "study", count=2, rows=8)
    datasets = [pydicom.dcmread(p) for p in paths]
    return [
        StoreItem(
            p,
            str(d.SOPClassUID),
            str(d.SOPInstanceUID),
            str(d.file_meta.TransferSyntaxUID),
        )
        for p, d in zip(paths, datasets, strict=True)
    ]


@pytest.mark.parametrize("cancel_job", [True, False], ids=["cancel", "quit"])
def test_a_cancel_wakes_a_send_blocked_on_a_silent_peer(
    tmp_path: Path, items: list[StoreItem], cancel_job: bool
) -> None:
    stored = threading.Event()
    path = tmp_path / "queue.sqlite"
    queue = TransferQueue(path)
    job = queue.enqueue("silent", items, "two files")
    queue.close()
    cancel = Cancel()
    records: list[Record] = []
    with scripted_peer(store_left_unanswered(stored)) as peer:

        def send() -> None:
            sender = TransferQueue(path)
            try:
                connect = peer.connector(NETWORK_TIMEOUT)
                records.extend(run_job(sender, job, connect, Peer("SCP", "COURIER"), cancel=cancel))
            finally:
                sender.close()

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        assert stored.wait(10), "the silent peer never got our C-STORE"
        if cancel_job:  # the GUI's Cancel marks the job first; a quit leaves it queued
            canceller = TransferQueue(path)
            canceller.cancel(job)
            canceller.close()
        start = time.monotonic()
        cancel.cancel()
        thread.join(NETWORK_TIMEOUT)
        elapsed = time.monotonic() - start
    assert not thread.is_alive()
    assert elapsed < PROMPT, f"the cancel took {elapsed:.1f} s"
    assert not [r for r in records if isinstance(r, StoreOutcome)]
    queue = TransferQueue(path)
    try:
        summary = queue.job(job)
        assert summary.sent == 0 and summary.failed == 0 and summary.pending == 2, summary
        assert summary.cancelled == cancel_job
        instances = queue.instances(job)
        assert all(i.state == PENDING and not i.message for i in instances), instances
    finally:
        queue.close()
    assert len(peer.conversations) == 1


def test_a_cancel_before_connecting_shuts_the_new_link(
    tmp_path: Path, items: list[StoreItem]
) -> None:
    def accepting(peer: Conversation) -> None:
        peer.accept()

    cancel = Cancel()
    cancel.cancel()
    with scripted_peer(accepting) as peer:
        link = cancel.connector(peer.connector(NETWORK_TIMEOUT))()
        with link.sock:
            assert link.sock.recv(1) == b""  # shut down: a read ends at once
