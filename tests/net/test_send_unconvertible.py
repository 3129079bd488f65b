"""A file that cannot be converted for the peer fails alone with its reason; an unexpected
error in a parallel worker becomes that instance's recorded failure, not a reconnect loop."""

import random
import socket
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, MRImageStorage, SecondaryCaptureImageStorage

from desktop.commands.transfer import items_from
from desktop.core.media import open_media
from desktop.net import store
from desktop.net.link import Link
from desktop.net.queue import FAILED, SENT, RetryPolicy, TransferQueue
from desktop.net.runner import run_job
from desktop.net.store import Peer
from tests.core.crafted import jpegls_zero_height
from tests.helpers import cli, node_add, sample_file
from tests.net.conftest import make_study
from tests.peers import LOOPBACK, pynetdicom_scp


def corrupt_j2k(target: Path) -> Path:
    """A JPEG 2000 file whose codestream header (SIZ) is garbage; its DICOM structure is sound."""
    data = bytearray(sample_file("MR_small_jp2klossless.dcm").read_bytes())
    start = data.index(b"\xff\x4f\xff\x51")
    data[start + 2 : start + 40] = random.Random(1).randbytes(38)
    target.write_bytes(data)
    return target


def video(target: Path) -> Path:
    """An MR instance stored as MPEG-4 AVC/H.264, which nothing here can decode."""
    dataset = pydicom.dcmread(sample_file("MR_small_jp2klossless.dcm"))
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"
    dataset.PixelData = encapsulate([random.Random(2).randbytes(1000)])
    dataset.save_as(target, enforce_file_format=True)
    return target


def test_unconvertible_files_fail_alone(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "media"
    make_study(folder / "ct", count=2, rows=8)
    corrupt_j2k(folder / "corrupt-j2k.dcm")
    video(folder / "video.dcm")
    # the peer takes MR only uncompressed: both MR files must be converted, and cannot be
    with pynetdicom_scp(sop_classes=[CTImageStorage, MRImageStorage]) as (port, received):
        assert cli(capsys, *node_add("peer", "PYNET_SCP", port))[0] == 0
        status, out, _ = cli(capsys, "send", "peer", folder, "--attempts", "1")
    assert status == 1
    assert len(received) == 2 and {str(d.SOPClassUID) for d in received} == {CTImageStorage}
    assert "sent 2 of 4, 2 failed" in out
    assert out.count("the file cannot be converted to") == 2
    assert "JPEG 2000 Image Compression (Lossless Only) and the file cannot be converted" in out
    assert "pylibjpeg: No matching JPEG 2000 format found" in out
    assert "No pixel data decoders have been implemented for 'MPEG-4 AVC/H.264" in out


def test_a_jpegls_frame_that_hung_libjpeg_fails_alone_at_once(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    """The peer takes Secondary Capture uncompressed only; converting the fuzzed JPEG-LS frame
    that libjpeg spun on for minutes (issue 9) is refused by CharLS. The real command runs in a
    child with a deadline, so that a regression fails instead of hanging the suite."""
    folder = tmp_path / "media"
    folder.mkdir()
    jpegls_zero_height().save_as(folder / "lines0.dcm", enforce_file_format=True)
    with pynetdicom_scp(sop_classes=[SecondaryCaptureImageStorage]) as (port, received):
        assert cli(capsys, *node_add("peer", "PYNET_SCP", port))[0] == 0
        process = subprocess.run(
            [sys.executable, "-m", "desktop.cli", "send", "peer", str(folder), "--attempts", "1"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert process.returncode == 1, process.stderr
    assert received == []
    assert "sent 0 of 1, 1 failed" in process.stdout
    assert (
        "JPEG-LS Lossy (Near-Lossless) Image Compression and the file cannot be" in process.stdout
    )
    assert "not supported by the CharLS decoder" in process.stdout


def test_an_unexpected_error_in_a_parallel_worker_is_recorded(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_study(tmp_path / "study", count=4, rows=8)
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    doomed = items[1].path
    check = store._check

    def failing_check(item: store.StoreItem) -> tuple[int, str]:
        if item.path == doomed:
            raise RuntimeError("a bug met on this file")
        return check(item)

    monkeypatch.setattr(store, "_check", failing_check)
    queue = TransferQueue(home / "queue.sqlite")
    job = queue.enqueue("peer", items, "four files")
    with pynetdicom_scp() as (port, received):

        def connect() -> Link:
            return Link(socket.create_connection((LOOPBACK, port), timeout=10))

        records = []
        for record in run_job(
            queue,
            job,
            connect,
            Peer("PYNET_SCP", "COURIER"),
            policy=RetryPolicy(attempts=3),
            parallel=2,
        ):
            records.append(record)
            assert len(records) < 200, "the job keeps reconnecting"
    states = {i.item.path: i.state for i in queue.instances(job)}
    assert states[doomed] == FAILED
    assert sum(s == SENT for s in states.values()) == 3  # its neighbour was sent on retry
    [failed] = queue.instances(job, FAILED)
    assert "unexpected error: RuntimeError: a bug met on this file" in failed.message
    assert len(received) == 3
