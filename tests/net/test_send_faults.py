"""Faults: refused instances, refused SOP classes, rejected associations, peers that die,
and our own process killed in the middle of a job."""

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, MRImageStorage

from desktop.cli import main
from desktop.commands.options import open_keystore
from desktop.commands.transfer import items_from
from desktop.connect import node_connector
from desktop.core.config import Node
from desktop.core.media import open_media
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.queue import RetryPolicy, TransferQueue
from desktop.net.runner import run_job
from desktop.net.store import Peer, StoreOutcome
from tests.helpers import cli, node_add
from tests.net.conftest import make_study
from tests.peers import (
    free_port,
    pynetdicom_scp,
    running,
    storescp_plain,
    storescp_tls_command,
)
from tests.pki import Pki


def plain_node(capsys: pytest.CaptureFixture[str], port: int, ae: str = "PYNET_SCP") -> None:
    assert cli(capsys, *node_add("peer", ae, port))[0] == 0


def test_failure_and_warning_statuses_are_recorded(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=6)

    def status_of(dataset: Dataset) -> int:
        return {2: 0xA900, 4: 0xB000, 5: 0xA700}.get(int(dataset.InstanceNumber), 0)

    with pynetdicom_scp(status_of) as (port, received):
        plain_node(capsys, port)
        status, out, _ = cli(capsys, "send", "peer", tmp_path / "study", "--attempts", "1")
    assert status == 1 and len(received) == 6
    assert "failure: error: data set does not match SOP class (0xA900)" in out
    assert "failure: refused: out of resources (0xA700)" in out
    assert "sent 4 of 6, 2 failed" in out  # the B000 warning counts as sent


def test_out_of_resources_is_retried(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=2)
    answers = iter([0xA700, 0x0000, 0x0000])
    with pynetdicom_scp(lambda dataset: next(answers)) as (port, received):
        plain_node(capsys, port)
        status, out, _ = cli(capsys, "send", "peer", tmp_path / "study", "--attempts", "2")
    assert status == 0, out
    assert len(received) == 3  # one instance twice: refused, then stored


def test_refused_sop_class_is_permanent(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    study = StudySpec(
        "P",
        "Mixed^Classes",
        "20250101",
        "mixed",
        (SeriesSpec("CT", "ct", count=2), SeriesSpec("MR", "mr", count=2)),
    )
    write_files(tmp_path / "study", (study,))
    with pynetdicom_scp(sop_classes=[CTImageStorage]) as (port, received):
        plain_node(capsys, port)
        status, out, _ = cli(capsys, "send", "peer", tmp_path / "study", "--attempts", "3")
    assert status == 1 and len(received) == 2
    assert out.count("the peer refused MR Image Storage (abstract syntax not supported)") == 2
    assert MRImageStorage not in {str(d.SOPClassUID) for d in received}


def test_unknown_called_ae_title_is_rejected(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=1)
    with pynetdicom_scp(require_called_aet=True) as (port, received):
        plain_node(capsys, port, ae="WRONG_AE")
        status, _, err = cli(capsys, "send", "peer", tmp_path / "study", "--attempts", "1")
    assert status == 1 and received == []
    assert "association rejected permanently" in err and "called AE title not recognised" in err


def test_peer_killed_mid_association_then_resumed(home: Path, pki: Pki, tmp_path: Path) -> None:
    files = make_study(tmp_path / "study", count=6)
    port = free_port()
    node = Node("dcmtk", "DCMTK_SCP", "127.0.0.1", port, tls=True, identity="courier")
    connector = node_connector(node, open_keystore(argparse.Namespace(password_file=None)))
    queue = TransferQueue(home / "queue.sqlite")
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    job = queue.enqueue("dcmtk", items, "six files")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    command = storescp_tls_command(pki, first, port)
    command[1:1] = ["--sleep-after", "1"]
    with running(command, port, tmp_path / "first.log") as peer:
        outcomes = 0
        for record in run_job(
            queue,
            job,
            connector,
            Peer("DCMTK_SCP", "COURIER"),
            policy=RetryPolicy(attempts=3, base=0.1),
            wait=False,
        ):
            if isinstance(record, StoreOutcome) and record.ok:
                outcomes += 1
                if outcomes == 2:
                    peer.kill()
    after_kill = queue.job(job)
    assert after_kill.sent == 2 and after_kill.pending == 4, after_kill
    with running(storescp_tls_command(pki, second, port), port, tmp_path / "second.log"):
        list(run_job(queue, job, connector, Peer("DCMTK_SCP", "COURIER")))
    assert queue.job(job).state == "done"
    assert len(list(first.iterdir())) + len(list(second.iterdir())) >= len(files)


def test_sigkill_mid_job_resumes_and_sends_only_the_rest(
    home: Path, pki: Pki, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=5)
    port = free_port()
    received = tmp_path / "received"
    received.mkdir()
    command = storescp_tls_command(pki, received, port)
    command[1:1] = ["--sleep-after", "1"]  # one second per instance: time to kill us mid-job
    main([str(a) for a in node_add("dcmtk", "DCMTK_SCP", port, "--tls", "--identity", "courier")])
    with running(command, port, tmp_path / "storescp.log"):
        sender = subprocess.Popen(
            [sys.executable, "-m", "desktop.cli", "send", "dcmtk", str(tmp_path / "study")],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        database = home / "queue.sqlite"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if database.exists() and _sent(database) >= 2:
                break
            time.sleep(0.02)
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        sent_before = _sent(database)
        assert 2 <= sent_before < 5, "the kill must land in the middle of the job"
        assert main(["queue", "run"]) == 0
    queue = TransferQueue(database)
    [job] = queue.jobs()
    assert job.state == "done" and job.sent == 5
    arrived = {p.name for p in received.iterdir()}
    assert len(arrived) == 5


def _sent(database: Path) -> int:
    """Instances the queue records as sent (0 while the sender is still creating it)."""
    try:
        with sqlite3.connect(database) as connection:
            query = "SELECT COUNT(*) FROM instances WHERE state = 'sent'"
            return int(connection.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("peer", ["storescp", "pynetdicom"])
def test_a_file_cut_short_while_it_is_sent_fails_alone(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    peer: str,
) -> None:
    """A file truncated after its check fails alone, never goes out cut short as "sent":
    storescp accepts the stored syntax (the file streams into PDUs), pynetdicom's SCP prefers
    implicit VR (the file is read and converted first)."""
    from desktop.net import store

    files = sorted(make_study(tmp_path / "study", count=4, rows=128))
    victim, checked = files[1], store._check

    def check_then_truncate(item: store.StoreItem) -> tuple[int, int, str]:
        result = checked(item)
        if item.path.name == victim.name:
            os.truncate(victim, victim.stat().st_size // 2)
        return result

    monkeypatch.setattr(store, "_check", check_then_truncate)
    if peer == "storescp":
        port = free_port()
        with storescp_plain(tmp_path / "stored", port):
            assert cli(capsys, *node_add("peer", "ANY-SCP", port))[0] == 0
            status, out, _ = cli(capsys, "send", "peer", tmp_path / "study", "--attempts", "2")
        received = sorted((tmp_path / "stored").iterdir())
    else:
        with pynetdicom_scp() as (port, received):
            plain_node(capsys, port)
            status, out, _ = cli(capsys, "send", "peer", tmp_path / "study", "--attempts", "2")
    assert status == 1, out
    assert f"FAILED {victim}: not stored: the file ended" in out and "changed while sent" in out
    assert "sent 3 of 4, 1 failed" in out
    assert len(received) == 3  # the cut file never reached the peer as a data set


def test_a_study_or_series_not_there_is_said_with_what_is_there(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    [first, *_] = make_study(tmp_path / "study", count=2)
    plain_node(capsys, free_port())  # nothing is sent: nothing listens
    study = pydicom.dcmread(first, stop_before_pixels=True)
    status, _, err = cli(capsys, "send", "peer", tmp_path / "study", "--study", "2.25.1")
    assert status == 1
    assert f"study 2.25.1 is not there; the studies there are: {study.StudyInstanceUID} (" in err
    status, _, err = cli(
        capsys,
        "send",
        "peer",
        tmp_path / "study",
        "--study",
        study.StudyInstanceUID,
        "--series",
        "2.25.2",
    )
    assert status == 1
    assert f"series 2.25.2 is not there; the series there are: {study.SeriesInstanceUID} (" in err


def test_removing_a_node_warns_of_the_jobs_that_still_wait_for_it(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    [image] = make_study(tmp_path / "study", count=1)
    plain_node(capsys, free_port())
    queue = TransferQueue(home / "queue.sqlite")
    job = queue.enqueue("peer", items_from([open_media(image)], None, None)[0], "left")
    queue.close()
    status, out, err = cli(capsys, "node", "remove", "peer")
    assert status == 0 and "removed node peer" in out
    assert f"warning: job {job} still waits for peer: cancel it (queue cancel {job})" in err
