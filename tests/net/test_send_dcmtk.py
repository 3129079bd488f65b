"""Sending over mutual TLS to DCMTK's storescp, through the command line scripts use."""

import json
import re
import shutil
from pathlib import Path

import pydicom
import pytest

from desktop.net.history import History
from tests.core.crafted import odd_charset_study
from tests.helpers import cli, node_add, sample_file
from tests.net.conftest import Scp, make_study, same_dataset
from tests.peers import free_port

pytestmark = pytest.mark.dcmtk


def add_node(capsys: pytest.CaptureFixture[str], port: int, *extra: object) -> None:
    status, _, err = cli(
        capsys, *node_add("dcmtk", "DCMTK_SCP", port, "--tls", "--identity", "courier", *extra)
    )
    assert status == 0, err


def test_echo_over_mutual_tls(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp
) -> None:
    add_node(capsys, storescp.port)
    status, out, _ = cli(capsys, "echo", "dcmtk")
    assert status == 0 and "success (0x0000)" in out and "TLSv1.3" in out
    [record] = History(home / "history.jsonl").read()
    assert record["event"] == "echo" and record["transcript"]["protocol"] == "TLSv1.3"


def test_echo_without_identity_says_why(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp
) -> None:
    cli(capsys, *node_add("anon", "DCMTK_SCP", storescp.port, "--tls"))
    status, _, err = cli(capsys, "echo", "anon")
    assert status == 1
    assert err.startswith("The peer requires a client certificate and we sent none")


def test_history_says_when_in_local_time_and_that_failed_tls_was_not_plain(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp
) -> None:
    add_node(capsys, storescp.port)
    cli(capsys, *node_add("gone", "DCMTK_SCP", free_port(), "--tls", "--identity", "courier"))
    assert cli(capsys, "echo", "dcmtk")[0] == 0
    assert cli(capsys, "echo", "gone")[0] == 1  # nothing listens: no TLS session
    status, out, _ = cli(capsys, "history")
    assert status == 0
    good, failed = out.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  dcmtk  echo  TLSv1.3 ", good), good
    assert "  gone  echo  TLS (bcp195-nd) not established  FAILED: " in failed, failed
    assert "plain" not in failed


def test_plain_node_on_a_tls_port(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp
) -> None:
    cli(capsys, *node_add("plain", "DCMTK_SCP", storescp.port))
    status, _, err = cli(capsys, "echo", "plain")
    assert status == 1 and "speaks TLS, but this node is set up for plain DICOM" in err


def test_send_study_arrives_whole(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path
) -> None:
    files = make_study(tmp_path / "study")
    add_node(capsys, storescp.port)
    status, out, _ = cli(capsys, "send", "dcmtk", tmp_path / "study", "--json")
    report = json.loads(out)
    assert status == 0 and report["state"] == "done" and report["sent"] == 12
    received = storescp.received()
    assert len(received) == 12
    for path in files:
        uid = next(i["sop_instance_uid"] for i in report["instances"] if i["path"] == str(path))
        assert same_dataset(path, received[uid])
    events = [r["event"] for r in History(home / "history.jsonl").read()]
    assert events == ["opened", "closed"]
    status, out, _ = cli(capsys, "queue", "--json")
    assert json.loads(out)[0]["state"] == "done"


def test_a_damaged_copy_gives_way_to_the_readable_one(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path
) -> None:
    [first, *_] = make_study(tmp_path / "study", count=2)
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / first.name).write_bytes(first.read_bytes()[:-1000])
    add_node(capsys, storescp.port)
    status, _, err = cli(capsys, "send", "dcmtk", tmp_path / "damaged", tmp_path / "study")
    assert status == 0, err  # the instance was sent: from the readable copy
    assert "not sent" not in err
    received = storescp.received()
    uid = str(pydicom.dcmread(first, stop_before_pixels=True).SOPInstanceUID)
    assert len(received) == 2 and same_dataset(first, received[uid])


def test_an_odd_character_set_is_sent_without_a_raw_warning(
    capsys: pytest.CaptureFixture[str],
    recwarn: pytest.WarningsRecorder,
    home: Path,
    storescp: Scp,
    tmp_path: Path,
) -> None:
    odd_charset_study(tmp_path / "odd")
    add_node(capsys, storescp.port)
    status, _, err = cli(capsys, "send", "dcmtk", tmp_path / "odd")
    assert (status, err) == (0, "")
    assert len(storescp.received()) == 2
    assert [str(w.message) for w in recwarn] == []


def test_compressed_file_is_converted_when_refused(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path
) -> None:
    """storescp accepts only uncompressed syntaxes unless told otherwise."""
    shutil.copy(sample_file("JPEG2000.dcm"), tmp_path / "j2k.dcm")
    add_node(capsys, storescp.port)
    status, out, err = cli(capsys, "send", "dcmtk", tmp_path / "j2k.dcm")
    assert status == 0, out + err
    assert "converted from JPEG 2000 Image Compression to" in err
    [received] = storescp.received().values()
    import pydicom

    assert not pydicom.dcmread(received).file_meta.TransferSyntaxUID.is_compressed


def test_dead_peer_is_reported_and_kept_for_later(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=3)
    add_node(capsys, free_port())
    status, out, err = cli(capsys, "send", "dcmtk", tmp_path / "study", "--attempts", "1")
    assert status == 1
    assert "Connection refused" in err
    assert "FAILED" in out and "3 failed" in out


def test_changed_file_fails_with_that_reason(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path
) -> None:
    from desktop.net.queue import TransferQueue
    from desktop.net.store import StoreItem

    [path] = make_study(tmp_path / "study", count=1)
    add_node(capsys, storescp.port)
    from desktop.core.header import read_header

    header = read_header(path)
    queue = TransferQueue(home / "queue.sqlite")
    job = queue.enqueue(
        "dcmtk",
        [
            StoreItem(
                path,
                header.media_sop_class_uid,
                header.media_sop_instance_uid,
                header.transfer_syntax_uid,
            )
        ],
        "one file",
    )
    path.write_bytes(path.read_bytes()[:-2] + b"\x01\x02")
    status, out, _ = cli(capsys, "queue", "run")
    assert status == 1
    assert "changed since it was queued" in out
    assert queue.job(job).state == "failed" and storescp.received() == {}


def test_node_validation(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    cases = [
        (["--ae", "THIS_AE_TITLE_IS_TOO_LONG", "--port", "104"], "1 to 16 printable ASCII"),
        (["--ae", "OK", "--port", "0"], "not between 1 and 65535"),
        (["--ae", "OK", "--port", "104", "--tls", "--identity", "nobody"], "no identity named"),
        (["--ae", "OK", "--port", "104", "--identity", "courier"], "over TLS only"),
        (["--ae", "OK", "--port", "104", "--tls", "--profile", "ssl3"], "unknown TLS profile"),
    ]
    for options, message in cases:
        status, _, err = cli(capsys, "node", "add", "n", "--host", "h", *options)
        assert status == 1 and message in err, (options, err)
    status, out, _ = cli(capsys, "node", "list", "--json")
    assert json.loads(out) == []


def test_parallel_associations(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=9)
    add_node(capsys, storescp.port, "--max-associations", "3")
    status, out, _ = cli(capsys, "send", "dcmtk", tmp_path / "study")
    assert status == 0 and "sent 9 of 9" in out
    assert len(storescp.received()) == 9
    events = [r["event"] for r in History(home / "history.jsonl").read()]
    assert events.count("opened") == 3 and events.count("closed") == 3
