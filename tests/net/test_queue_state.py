"""The queue's state: a damaged database is moved aside, every file under the home is private,
a file that cannot be sent fails alone."""

import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from desktop.commands.transfer import items_from
from desktop.core.media import open_media
from desktop.net import queue as queue_module
from desktop.net.history import History
from desktop.net.queue import TransferQueue
from tests.helpers import cli, node_add, require_tool, sample_file
from tests.net.conftest import Scp, make_study
from tests.peers import free_port, pynetdicom_scp, running

pytestmark = pytest.mark.dcmtk


def test_damaged_queue_database_is_moved_aside(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    database = home / "queue.sqlite"
    garbage = b"this is not an SQLite database " * 200
    database.write_bytes(garbage)
    status, out, err = cli(capsys, "queue")
    assert status == 0 and "the queue is empty" in out
    assert f"the queue database {database} is damaged" in err and "moved it aside to" in err
    [aside] = home.glob("queue.sqlite.corrupt-*")
    assert aside.read_bytes() == garbage
    assert cli(capsys, "queue", "--json") == (0, "[]\n", "")  # the fresh one is used quietly


def test_every_file_under_the_home_is_private_after_a_send(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=2)
    cli(capsys, *node_add("dcmtk", "DCMTK_SCP", storescp.port, "--tls", "--identity", "courier"))
    assert cli(capsys, "send", "dcmtk", tmp_path / "study")[0] == 0
    modes = {
        path.relative_to(home.parent): stat.S_IMODE(path.stat().st_mode)
        for path in [home, *home.rglob("*")]
    }
    assert Path("home/queue.sqlite-wal") in modes and Path("home/keystore/trusted") in modes
    wrong = {
        path: oct(mode)
        for path, mode in modes.items()
        if mode != (0o700 if (home.parent / path).is_dir() else 0o600)
    }
    assert wrong == {}


def unconvertible(folder: Path) -> Path:
    """A JPEG 2000 instance whose codestream header is damaged: it reads as DICOM, but no
    decoder can convert it for a peer that accepts only uncompressed syntaxes."""
    data = bytearray(sample_file("JPEG2000.dcm").read_bytes())
    size = data.find(b"\xff\x4f\xff\x51") + 8  # after SOC, SIZ, Lsiz, Rsiz: Xsiz and Ysiz
    data[size : size + 8] = bytes(8)
    target = folder / "damaged-j2k.dcm"
    target.write_bytes(data)
    return target


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_file_that_cannot_be_converted_fails_alone(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path, parallel: int
) -> None:
    study = tmp_path / "study"
    make_study(study, count=4)
    bad = unconvertible(study)
    cli(
        capsys,
        *node_add("dcmtk", "DCMTK_SCP", storescp.port, "--tls", "--identity", "courier"),
        "--max-associations",
        parallel,
    )
    status, out, _ = cli(capsys, "send", "dcmtk", study, "--attempts", "2")
    assert status == 1
    assert f"FAILED {bad}: " in out and "sent 4 of 5, 1 failed" in out
    assert len(storescp.received()) == 4
    later = tmp_path / "later"
    shutil.copytree(study, later)
    (later / bad.name).unlink()
    status, out, _ = cli(capsys, "send", "dcmtk", later)  # the queue goes on
    assert status == 0 and "done, sent 4 of 4" in out


def test_a_file_is_hashed_once_yet_a_change_is_still_seen(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue hashes each file when it is queued; store checks it again only when the
    file's size, times or inode differ since, which any change of content makes so."""
    monkeypatch.setattr(queue_module, "SETTLED_NS", 0)  # the files were written just now
    make_study(tmp_path / "study", count=2)
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    queue = TransferQueue(home / "queue.sqlite")
    first, second = queue.instances(queue.enqueue("peer", items, "two files"))
    assert first.item.sha256 and queue.for_sending(first.item).sha256 == ""
    path, before = second.item.path, second.item.path.stat()
    time.sleep(0.05)  # past the file system's clock tick
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    assert queue.for_sending(second.item).sha256 == second.item.sha256  # checked again


def test_a_job_that_cannot_start_does_not_block_the_queue(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=2)
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    queue = TransferQueue(home / "queue.sqlite")
    orphan = queue.enqueue("removed-node", items, "to a node removed since")
    later = queue.enqueue("peer", items, "to a node that exists")
    with pynetdicom_scp() as (port, received):
        cli(capsys, *node_add("peer", "PYNET_SCP", port))
        status, out, err = cli(capsys, "queue", "run")
    assert status == 1 and f"job {orphan} not run: no node named 'removed-node'" in err
    assert f"job {later} to peer: done, sent 2 of 2" in out and len(received) == 2


def test_a_failed_association_is_said_once_and_cancel_and_retry_tell_the_truth(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=5)
    port = free_port()  # nothing listens there yet
    assert cli(capsys, *node_add("Down", "STORESCP", port, "--timeout", "2"))[0] == 0
    status, out, err = cli(capsys, "send", "Down", tmp_path / "study", "--attempts", "2")
    assert status == 1
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].startswith("FAILED job 1 to Down: ")
    assert failed[0].endswith("; 5 instance(s) not sent")
    assert err.count("association failed") == 1 and err.count(str(tmp_path)) == 0, err
    rows = [r for r in History(home / "history.jsonl").read() if r.get("job") == 1]
    assert [r["event"] for r in rows] == ["failed"]  # two tries, one row
    assert cli(capsys, "queue", "cancel", "1")[0] == 0
    status, out, _ = cli(capsys, "queue", "retry", "1")
    assert status == 0 and "job 1: 5 instance(s) pending again" in out
    with running([require_tool("storescp"), "--ignore", port], port, tmp_path / "scp.log"):
        status, out, err = cli(capsys, "queue", "run")
    assert status == 0 and "job 1 to Down: done, sent 5 of 5" in out, err
    status, _, err = cli(capsys, "queue", "cancel", "1")
    assert status == 1 and "job 1 is done: all 5 instance(s) were sent; nothing to cancel" in err
    status, out, _ = cli(capsys, "queue")
    assert "  done  " in out.splitlines()[0]
    assert cli(capsys, "queue", "retry", "1")[1] == "job 1: nothing to retry\n"
