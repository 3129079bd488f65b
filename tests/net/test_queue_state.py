"""The queue's state: a damaged database is moved aside, every file under the home is private,
a file that cannot be sent fails alone."""

import argparse
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from desktop.commands.options import open_keystore
from desktop.commands.transfer import items_from
from desktop.connect import node_connector
from desktop.core import file_state as file_state_module
from desktop.core import header as header_module
from desktop.core.config import Node
from desktop.core.media import open_media
from desktop.net import queue as queue_module
from desktop.net.history import History
from desktop.net.queue import TransferQueue
from desktop.net.runner import JobProgress, run_job, send_policy
from desktop.net.store import Peer
from tests.helpers import cli, node_add, require_tool, sample_file
from tests.net.conftest import Scp, make_study, same_dataset
from tests.peers import LOOPBACK, free_port, pynetdicom_scp, running

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


def test_a_file_is_read_once_as_it_is_sent_yet_a_change_is_still_seen(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    storescp: Scp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file that did not change in the last seconds is queued with its state (size, times,
    inode), not read: it is read once, as it is sent. A change of its content after it was
    queued (same size, mtime set back) is seen before a byte of it goes, by another process
    too: the state is in the queue. Where each data set starts, and the state, are queued
    from the scan: no header is read, nor a file looked at, again."""
    monkeypatch.setattr(file_state_module, "SETTLED_NS", 0)  # the files were written just now
    make_study(tmp_path / "study", count=3)
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    assert all(i.state_when_queued == file_state_module.file_state(i.path.stat()) for i in items)
    hashed: list[Path] = []
    monkeypatch.setattr(queue_module, "file_sha256", hashed.append)
    looked_at: list[Path] = []
    monkeypatch.setattr(TransferQueue, "_with_state", staticmethod(looked_at.append))
    queue = TransferQueue(home / "queue.sqlite")
    job = queue.enqueue("dcmtk", queue.hashed(items), "three files")
    assert hashed == [] and looked_at == []
    queue = TransferQueue(home / "queue.sqlite")  # as another process reads it
    first, second, third = queue.instances(job)
    assert first.item.sha256 == "" and first.item.state_when_queued
    offset = header_module.read_header(first.item.path).dataset_offset
    assert first.item.dataset_offset == offset > header_module.PREAMBLE_LENGTH
    reread: list[Path] = []
    real_offset = header_module.dataset_offset
    monkeypatch.setattr(
        header_module, "dataset_offset", lambda path: reread.append(path) or real_offset(path)
    )
    path, before = second.item.path, second.item.path.stat()
    time.sleep(0.05)  # past the file system's clock tick
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    assert cli(capsys, *node_add("dcmtk", "DCMTK_SCP", storescp.port, "--tls"))[0] == 0
    assert cli(capsys, "node", "edit", "dcmtk", "--identity", "courier")[0] == 0
    status, out, _ = cli(capsys, "queue", "run")
    assert status == 1
    assert f"FAILED {path}: the file changed since it was queued" in out
    received = storescp.received()
    assert set(received) == {first.item.sop_instance_uid, third.item.sop_instance_uid}
    assert all(same_dataset(i.item.path, received[i.item.sop_instance_uid]) for i in (first, third))
    assert hashed == [] and reread == []


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


def test_queue_retry_failed_retries_every_failed_job_and_only_those(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    """What the GUI's Retry failed does with no job selected (G16 of findings7)."""
    make_study(tmp_path / "study", count=2)
    port = free_port()  # nothing listens there
    assert cli(capsys, *node_add("Down", "STORESCP", port, "--timeout", "2"))[0] == 0
    assert cli(capsys, "queue", "retry", "--failed")[1] == "no failed job to retry\n"
    for _ in range(3):
        assert cli(capsys, "send", "Down", tmp_path / "study", "--attempts", "1")[0] == 1
    assert cli(capsys, "queue", "cancel", "2")[0] == 0
    status, out, _ = cli(capsys, "queue", "retry", "--failed")
    assert status == 0 and out.splitlines() == [
        "job 1: 2 instance(s) pending again (dicom-courier queue run)",
        "job 3: 2 instance(s) pending again (dicom-courier queue run)",
    ]
    queue = TransferQueue(home / "queue.sqlite")
    assert [job.state for job in queue.jobs()] == ["pending", "cancelled", "pending"]
    queue.close()
    with pytest.raises(SystemExit) as usage:  # one job, or all failed ones: not both
        cli(capsys, "queue", "retry", "1", "--failed")
    assert usage.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_the_progress_of_a_job_is_the_queue_s_own_count(home: Path, tmp_path: Path) -> None:
    """run_job counts each outcome into the job's summary instead of counting the job's rows
    again: after every outcome its counts are those the queue holds, failures included."""
    make_study(tmp_path / "study", count=6)
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    queue = TransferQueue(home / "queue.sqlite")
    job_id = queue.enqueue("peer", items, "six files")
    refused = {items[1].sop_instance_uid, items[4].sop_instance_uid}
    progress = []
    with pynetdicom_scp(lambda d: 0xA700 if d.SOPInstanceUID in refused else 0) as (port, _):
        node = Node("peer", "PYNET_SCP", LOOPBACK, port)
        for record in run_job(
            queue,
            job_id,
            node_connector(node, open_keystore(argparse.Namespace(password_file=None))),
            Peer("PYNET_SCP", "COURIER"),
            policy=send_policy(1),
        ):
            if isinstance(record, JobProgress):
                progress.append(record.job)
                assert record.job == queue.job(job_id)
    assert [(p.sent, p.failed, p.pending) for p in progress][-1] == (4, 2, 0)
    assert len(progress) == 6 and progress[-1].bytes_sent == sum(
        i.size for i in items if i.sop_instance_uid not in refused
    )


def traced_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL statements the queue's connections run from now on."""
    statements: list[str] = []
    connect = queue_module.sqlite3.connect

    def traced(*args: object, **kwargs: object) -> object:
        db = connect(*args, **kwargs)  # type: ignore[arg-type]
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(queue_module.sqlite3, "connect", traced)
    return statements


def test_a_process_checks_a_queue_database_whole_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window following the queue opens it every 2 s: all of it is read (quick_check) only
    the first time, not at each look (0.17 s for 90,000 instances)."""
    statements = traced_statements(monkeypatch)
    database = tmp_path / "queue.sqlite"
    for _ in range(3):
        TransferQueue(database).close()
    assert sum("quick_check" in s for s in statements) == 1
    other = tmp_path / "other" / "queue.sqlite"
    other.parent.mkdir()
    TransferQueue(other).close()
    assert sum("quick_check" in s for s in statements) == 2


def test_queue_run_with_nothing_pending_says_so(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    """It printed nothing at all (tester's G12, 2)."""
    assert cli(capsys, "queue", "run") == (0, "nothing pending in the queue\n", "")
    assert cli(capsys, "queue", "run", "--json") == (0, "", "")  # JSON: nothing to parse


def test_a_queue_checked_ahead_is_not_read_whole_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm service checks the queue before it forks a command: the command's opening (in
    the child, which inherits what the service found) does not read all of it again."""
    database = tmp_path / "queue.sqlite"
    TransferQueue(database).close()
    queue_module._FOUND_WHOLE.clear()  # a process that has not opened it yet
    statements = traced_statements(monkeypatch)
    queue_module.check_ahead(database)
    assert sum("quick_check" in s for s in statements) == 1
    TransferQueue(database).close()
    assert sum("quick_check" in s for s in statements) == 1


def test_checking_ahead_leaves_a_damaged_queue_to_the_command_that_says_so(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    """What is checked ahead changes nothing: a damaged database stays where it is (the
    service's log is not where the user looks), and the command then moves it aside and
    says so, as without a service."""
    database = home / "queue.sqlite"
    garbage = b"this is not an SQLite database " * 200
    database.write_bytes(garbage)
    queue_module.check_ahead(database)
    queue_module.check_ahead(home / "no such queue.sqlite")
    assert database.read_bytes() == garbage and not list(home.glob("*.corrupt-*"))
    status, _, err = cli(capsys, "queue")
    assert status == 0 and "moved it aside to" in err


def _queued_and_checked(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> tuple[Path, int, int]:
    """A queue holding one job of two instances, checked as a warm service checks it before
    it forks a command: its path, the jobs table's root page and the page size."""
    make_study(tmp_path / "study", count=2)
    cli(capsys, *node_add("pacs", "PACS", free_port()))
    database = home / "queue.sqlite"
    queue = TransferQueue(database)
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    queue.enqueue("pacs", items, str(tmp_path / "study"))
    [[root]] = queue.db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'")
    [[size]] = queue.db.execute("PRAGMA page_size")
    queue.close()  # the last connection: the write-ahead log folded into the file
    queue_module._FOUND_WHOLE.clear()
    queue_module.check_ahead(database)  # what the service does before it forks a command
    return database, root, size


def test_damage_met_after_the_queue_was_checked_is_said_and_moved_aside(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    """A warm service checks the queue once, then its commands trust it (E2 of findings8):
    a page damaged since broke their queries with a Python traceback, at every command until
    the service was restarted. The damage is said in plain words and the database moved
    aside, as at opening; the next command finds an empty queue."""
    database, root, size = _queued_and_checked(capsys, home, tmp_path)
    with database.open("r+b") as stream:  # a page damaged where it is (same file, inode)
        stream.seek((root - 1) * size)
        stream.write(b"\xff")  # no b-tree page has this type
    status, _, err = cli(capsys, "queue")
    assert status == 1 and "Traceback" not in err
    assert f"the queue database {database} is damaged" in err and "moved it aside to" in err
    assert len(list(home.glob("queue.sqlite.corrupt-*"))) == 1
    assert cli(capsys, "queue")[:2] == (0, "the queue is empty\n")


def _renumber_the_job(data: bytearray, root: int, size: int) -> None:
    """The jobs table's one row given number 2 in its cell (the b-tree stays well formed)."""
    page = (root - 1) * size
    assert data[page] == 0x0D  # a table leaf page
    cell = page + int.from_bytes(data[page + 8 : page + 10], "big")
    assert data[cell] < 0x80 and data[cell + 1] == 1  # one-byte payload length, rowid 1
    data[cell + 1] = 2


def _garble(data: bytearray, root: int, size: int, old: bytes, new: bytes) -> None:
    at = data.rindex(old)  # the last: in a row, not in the schema's text
    data[at : at + len(old)] = new


DAMAGES = {  # damage that reads back as values, without an SQLite error
    "a state garbled": (
        "queue",
        lambda data, root, size: _garble(data, root, size, b"pending", b"pendXng"),
        "an instance of job 1 holds values the queue never writes: state 'pendXng', "
        "commitment '', size ",
    ),
    "text that is not UTF-8": (
        "queue",
        lambda data, root, size: _garble(data, root, size, b"pacs", b"pa\xffs"),
        "text that is not UTF-8 where the queue wrote text",
    ),
    "an instance's job gone": (
        "queue",
        _renumber_the_job,
        "an instance names job 1, which is not there",
    ),
    "a state garbled, read by queue show": (
        "queue show 1",
        lambda data, root, size: _garble(data, root, size, b"pending", b"pendin\x07"),
        "instance 0 of job 1 holds values the queue never writes: state 'pendin\\x07', "
        "commitment '', size ",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_damage_that_reads_as_values_is_found_said_and_moved_aside(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path, case: str
) -> None:
    """E2 of findings8, left over: a page damaged after a warm service checked the queue, in
    a way that reads back as garbage without an SQLite error, gave a KeyError or an
    OperationalError traceback, or said 'no job N' of a garbage number. Values the queue
    never writes are damage: said in plain words, the database moved aside whole (nothing
    in it deleted), the next command finds an empty queue."""
    command, damage, words = DAMAGES[case]
    database, root, size = _queued_and_checked(capsys, home, tmp_path)
    data = bytearray(database.read_bytes())
    damage(data, root, size)
    with database.open("r+b") as stream:  # damaged where it is (same file, same inode)
        stream.write(data)
    status, _, err = cli(capsys, *command.split())
    assert status == 1 and "Traceback" not in err, err
    assert f"the queue database {database} is damaged ({words}" in err, err
    [aside] = home.glob("queue.sqlite.corrupt-*")
    assert aside.read_bytes() == bytes(data)
    assert cli(capsys, "queue")[:2] == (0, "the queue is empty\n")


def test_a_peers_error_comment_is_shown_never_obeyed_by_the_terminal(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    """The Error Comment of a refused C-STORE is the peer's text: one holding ESC sequences
    went raw into the send's summary, the queue and the GUI's Transfers row (E14 of
    findings8)."""
    from pydicom import Dataset

    def refusal(dataset: Dataset) -> Dataset:
        answer = Dataset()
        answer.Status, answer.ErrorComment = 0xC000, "full\x1b]0;owned\x07\x1b[2J"
        return answer

    make_study(tmp_path / "study", count=1)
    with pynetdicom_scp(refusal, ae_title="REFUSER") as (port, _):  # type: ignore[arg-type]
        cli(capsys, *node_add("refuser", "REFUSER", port))
        status, out, err = cli(capsys, "send", "refuser", tmp_path / "study")
    assert status == 1
    assert "(full\\x1b]0;owned\\x07\\x1b[2J)" in out + err
    assert "\x1b" not in out + err and "\x07" not in out + err
