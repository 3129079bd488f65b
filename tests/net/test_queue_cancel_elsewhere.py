"""`queue cancel JOB` in a second shell while `send` waits on a peer that accepted the
connection and says nothing (DCMTK's storescp, stopped): the send ends within a second or
two, not after the node's 60 s network timeout, says no "association failed" for the failure
the cancel caused, and names the command that resumes a cancelled job (tester's F1)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.net.queue import TransferQueue
from tests.helpers import cli, node_add
from tests.net.conftest import make_study
from tests.peers import free_port, storescp_plain

PROMPT = 3.0  # seconds from the cancel to the send's exit (the watcher polls every 0.5 s)
NETWORK_TIMEOUT = 60.0  # the node's, which the send must not wait out


@pytest.fixture
def silent_storescp(tmp_path: Path) -> Iterator[int]:
    """storescp listening, then stopped: the kernel still accepts connections, nobody answers."""
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    with storescp_plain(out, port) as scp:
        scp.send_signal(signal.SIGSTOP)
        try:
            yield port
        finally:
            scp.send_signal(signal.SIGCONT)


def test_a_queue_cancel_from_another_process_stops_a_blocked_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], silent_storescp: int
) -> None:
    make_study(tmp_path / "study", count=4, rows=8)
    assert cli(capsys, *node_add("silent", "DCMTK_SCP", silent_storescp))[0] == 0
    home = Path(os.environ["DICOM_COURIER_HOME"])
    sender = subprocess.Popen(
        [sys.executable, "-m", "desktop.cli", "send", "silent", str(tmp_path / "study")],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        job = _queued_job(home / "queue.sqlite", sender)
        time.sleep(1.0)  # the send has opened its association and waits for the answer
        assert sender.poll() is None, "the send ended before the cancel"
        status, out, _ = cli(capsys, "queue", "cancel", job)
        assert status == 0 and f"job {job} cancelled" in out
        start = time.monotonic()
        out, err = sender.communicate(timeout=NETWORK_TIMEOUT / 4)
        elapsed = time.monotonic() - start
    finally:
        sender.kill()
        sender.wait()
    assert elapsed < PROMPT, f"the send took {elapsed:.1f} s to see the cancel"
    assert sender.returncode == 1, (out, err)
    assert "association failed" not in err and "Traceback" not in err, err
    assert f"cancelled, sent 0 of 4, 4 not sent (dicom-courier queue retry {job})" in out, out
    assert "queue run" not in out, out
    queue = TransferQueue(home / "queue.sqlite")
    try:
        summary = queue.job(job)
        assert summary.cancelled and (summary.pending, summary.failed) == (4, 0), summary
        assert not [i.message for i in queue.instances(job) if i.message]
    finally:
        queue.close()
    status, history, _ = cli(capsys, "history", "--json")
    assert status == 0 and "FAILED" not in history and '"failed"' not in history, history


def _queued_job(path: Path, sender: "subprocess.Popen[str]") -> int:
    """The id of the job the send queued, once it is queued."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert sender.poll() is None, sender.communicate()
        if path.exists():
            queue = TransferQueue(path)
            try:
                jobs = queue.jobs()
            finally:
                queue.close()
            if jobs:
                return jobs[-1].id
        time.sleep(0.1)
    pytest.fail("the send queued no job within 30 s")
