"""Ctrl+C (SIGINT) or SIGTERM during `dicom-courier send` while the peer keeps silent: the
command stops at once (its connection shut, not after the node's 60 s network timeout), says
it was interrupted, and leaves the job queued as it is: what was answered sent, the rest
pending (`queue run` resumes it); a storage commitment request left unanswered likewise."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.net import dimse, pdu
from desktop.net.queue import TransferQueue
from tests.helpers import cli, node_add
from tests.net.conftest import make_study
from tests.net.scripted_peer import Conversation, Script, scripted_peer
from tests.net.test_malicious_peer import store_response

ANSWERED = 2  # of 5: then silence
PROMPT = 3.0  # seconds from the signal to the exit (a process's teardown on a loaded machine)


def answer_stores(peer: Conversation, count: int) -> None:
    for _ in range(count):
        context_id, command = peer.read_message()
        peer.respond(context_id, store_response(int(command[dimse.MESSAGE_ID]), 0))


def store_left_unanswered(stored: threading.Event) -> Script:
    """A peer that accepts, reads our C-STORE-RQ and says nothing (``stored`` set)."""

    def script(peer: Conversation) -> None:
        peer.accept()
        peer.read_message()
        stored.set()

    return script


def commitment_left_unanswered(asked: threading.Event, stores: int = 2) -> Script:
    """A peer that stores ``stores`` instances on a first association, then on a second
    reads our N-ACTION-RQ and says nothing (``asked`` set)."""
    conversations = iter(("store", "commit"))

    def script(peer: Conversation) -> None:
        peer.accept()
        if next(conversations) == "store":
            answer_stores(peer, stores)
            return
        peer.read_message()
        asked.set()

    return script


def interrupted_send(study: Path, waiting: threading.Event, signum: int) -> tuple[float, int, str]:
    """`send silent STUDY` in its own process, given ``signum`` once ``waiting``: the seconds
    it took to end, its exit status and what it said on stderr."""
    sender = subprocess.Popen(
        [sys.executable, "-m", "desktop.cli", "send", "silent", str(study)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.wait(30), "the peer never got what it waits on"
        start = time.monotonic()
        sender.send_signal(signum)
        _, err = sender.communicate(timeout=60)
        return time.monotonic() - start, sender.returncode, err
    finally:
        sender.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_send_stops_at_once_and_stays_resumable(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], signum: int
) -> None:
    make_study(tmp_path / "study", count=5, rows=8)
    waiting = threading.Event()

    def answers_then_silent(peer: Conversation) -> None:
        peer.accept()
        answer_stores(peer, ANSWERED)
        peer.read_message()  # the third C-STORE-RQ, never answered
        waiting.set()

    with scripted_peer(answers_then_silent) as peer:
        assert cli(capsys, *node_add("silent", "SCP", peer.port))[0] == 0  # 60 s timeout
        elapsed, status, err = interrupted_send(tmp_path / "study", waiting, signum)
    assert elapsed < PROMPT, f"the send took {elapsed:.1f} s to stop"
    assert status == 130, (status, err)
    assert "dicom-courier: interrupted" in err and "Traceback" not in err, err
    [conversation] = peer.conversations
    assert pdu.A_RELEASE_RQ not in conversation.received  # ended, not released as if done
    queue = TransferQueue(home / "queue.sqlite")
    try:
        [job] = queue.jobs()
        assert (job.sent, job.pending, job.failed) == (ANSWERED, 5 - ANSWERED, 0), job
        assert not job.cancelled and job.state == "pending", job
        assert all(not i.message for i in queue.instances(job.id) if i.state == "pending")
    finally:
        queue.close()


def test_an_interrupted_commitment_request_stops_at_once_and_says_so(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM while `send --commit` waits for the answer to its N-ACTION: the stores stay
    sent, the instances are not said to wait for a commitment that was never accepted."""
    make_study(tmp_path / "study", count=2, rows=8)
    asked = threading.Event()
    with scripted_peer(commitment_left_unanswered(asked), connections=2) as peer:
        assert cli(capsys, *node_add("silent", "SCP", peer.port, "--commit"))[0] == 0
        elapsed, status, err = interrupted_send(tmp_path / "study", asked, signal.SIGTERM)
    assert elapsed < PROMPT, f"the send took {elapsed:.1f} s to stop"
    assert status == 130 and "dicom-courier: interrupted" in err, err
    assert "storage commitment not requested: cancelled" in err and "Traceback" not in err
    queue = TransferQueue(home / "queue.sqlite")
    try:
        [job] = queue.jobs()
        assert job.sent == 2 and job.pending == 0, job
        reasons = {(i.commitment, i.commitment_reason) for i in queue.instances(job.id)}
        assert reasons == {("failed", "commitment not requested: cancelled")}, reasons
    finally:
        queue.close()
