"""Ctrl+C (SIGINT) or SIGTERM during `dicom-courier send` while the peer keeps silent: the
command stops at once (its connection shut, not after the node's 60 s network timeout), says
it was interrupted, and leaves the job queued as it is: what was answered sent, the rest
pending (`queue run` resumes it)."""

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
from tests.net.scripted_peer import Conversation, scripted_peer
from tests.net.test_malicious_peer import store_response

ANSWERED = 2  # of 5: then silence
PROMPT = 3.0  # seconds from the signal to the exit (a process's teardown on a loaded machine)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_send_stops_at_once_and_stays_resumable(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], signum: int
) -> None:
    make_study(tmp_path / "study", count=5, rows=8)
    waiting = threading.Event()

    def answers_then_silent(peer: Conversation) -> None:
        peer.accept()
        for _ in range(ANSWERED):
            context_id, command = peer.read_message()
            peer.respond(context_id, store_response(int(command[dimse.MESSAGE_ID]), 0))
        peer.read_message()  # the third C-STORE-RQ, never answered
        waiting.set()

    with scripted_peer(answers_then_silent) as peer:
        assert cli(capsys, *node_add("silent", "SCP", peer.port))[0] == 0  # 60 s timeout
        sender = subprocess.Popen(
            [sys.executable, "-m", "desktop.cli", "send", "silent", str(tmp_path / "study")],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert waiting.wait(30), "the peer never got the third C-STORE"
            start = time.monotonic()
            sender.send_signal(signum)
            _, err = sender.communicate(timeout=60)
            elapsed = time.monotonic() - start
        finally:
            sender.kill()
    assert elapsed < PROMPT, f"the send took {elapsed:.1f} s to stop"
    assert sender.returncode == 130, (sender.returncode, err)
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
    conversations = iter(("store", "commit"))

    def stores_then_silent(peer: Conversation) -> None:
        peer.accept()
        if next(conversations) == "store":
            for _ in range(2):
                context_id, command = peer.read_message()
                peer.respond(context_id, store_response(int(command[dimse.MESSAGE_ID]), 0))
            return
        peer.read_message()  # our N-ACTION-RQ, never answered
        asked.set()

    with scripted_peer(stores_then_silent, connections=2) as peer:
        assert cli(capsys, *node_add("silent", "SCP", peer.port, "--commit"))[0] == 0
        sender = subprocess.Popen(
            [sys.executable, "-m", "desktop.cli", "send", "silent", str(tmp_path / "study")],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert asked.wait(30), "the peer was never asked for storage commitment"
            start = time.monotonic()
            sender.send_signal(signal.SIGTERM)
            _, err = sender.communicate(timeout=60)
            elapsed = time.monotonic() - start
        finally:
            sender.kill()
    assert elapsed < PROMPT, f"the send took {elapsed:.1f} s to stop"
    assert sender.returncode == 130 and "dicom-courier: interrupted" in err, err
    assert "storage commitment not requested: cancelled" in err and "Traceback" not in err
    queue = TransferQueue(home / "queue.sqlite")
    try:
        [job] = queue.jobs()
        assert job.sent == 2 and job.pending == 0, job
        reasons = {(i.commitment, i.commitment_reason) for i in queue.instances(job.id)}
        assert reasons == {("failed", "commitment not requested: cancelled")}, reasons
    finally:
        queue.close()
