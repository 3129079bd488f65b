"""De-identify before sending: DCMTK's storescp receives de-identified copies only, the
sources stay as they were, the copies' area is emptied afterwards (and swept after a crash),
and the queue, the history and the audit trail say that copies were de-identified, and how."""

import hashlib
import os
import shutil
import stat
import time
from pathlib import Path

import pydicom
import pytest
from lxml import etree

from desktop.core.audit.store import AuditLog
from desktop.net.queue import TransferQueue
from desktop.net.store import StoreItem
from tests.audit.schema import schema_errors
from tests.core.deid.test_study import write_study
from tests.helpers import cli, node_add
from tests.peers import free_port, storescp_plain
from tests.pki import Pki


@pytest.fixture
def home(signing_home_copy: Path) -> Path:
    return signing_home_copy


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return write_study(tmp_path / "media", 3)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_a_deid_node_gets_copies_and_every_record_says_so(
    home: Path, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _hashes(media)
    port, received = free_port(), tmp_path / "received"
    status, out, err = cli(capsys, *node_add("Research", "DCMTK_SCP", port, "--deid",
                           "--deid-option", "retain-longitudinal-modified-dates"))  # fmt: skip
    assert status == 0, err
    assert "de-identifies copies (retain-longitudinal-modified-dates)" in out
    with storescp_plain(received, port):
        status, out, err = cli(capsys, "send", "Research", media)
    assert status == 0, err
    assert "sent 3 of 3; de-identified copies (Basic Application Confidentiality Profile; " \
        "options: retain-longitudinal-modified-dates)" in out  # fmt: skip
    files = sorted(received.iterdir())
    assert len(files) == 3
    originals = {pydicom.dcmread(p).SOPInstanceUID for p in media.iterdir()}
    for path in files:
        raw = path.read_bytes()
        assert b"Secretname" not in raw and b"PID-31337" not in raw
        copy = pydicom.dcmread(path)
        assert copy.PatientIdentityRemoved == "YES"
        assert copy.LongitudinalTemporalInformationModified == "MODIFIED"
        assert "113107" in {c.CodeValue for c in copy.DeidentificationMethodCodeSequence}
        assert copy.SOPInstanceUID not in originals
    assert _hashes(media) == before  # the sources are never modified
    assert list((home / "deidentified").iterdir()) == []  # the copies went once sent
    assert stat.S_IMODE((home / "deidentified").stat().st_mode) == 0o700

    [job] = TransferQueue(home / "queue.sqlite").jobs()
    assert job.sent == 3 and "retain-longitudinal-modified-dates" in job.deidentified
    status, out, _ = cli(capsys, "history")
    assert "[de-identified copies (Basic Application Confidentiality Profile" in out
    transferred = [e for e in AuditLog(home / "audit").entries() if e.event == "110104"]
    [done] = transferred
    assert schema_errors(done.xml) == []
    assert "3 of 3 instance(s) stored; de-identified copies" in done.summary
    root = etree.fromstring(done.xml)
    assert [a.text for a in root.iter("Anonymized")] == ["true", "true"]  # study and patient
    assert pydicom.dcmread(files[0]).StudyInstanceUID in done.xml  # the copy's study


def test_send_deid_with_a_recipient_who_alone_restores_the_originals(
    home: Path, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    port, received = free_port(), tmp_path / "received"
    assert cli(capsys, *node_add("Plain", "DCMTK_SCP", port))[0] == 0
    status, _, err = cli(capsys, "send", "Plain", media, "--option", "retain-uids")
    assert status == 1 and "--option and --recipient say how to de-identify: add --deid" in err
    with storescp_plain(received, port):
        status, out, err = cli(capsys, "send", "Plain", media, "--deid", "--option",
                               "retain-uids", "--recipient", pki.path("client"))  # fmt: skip
    assert status == 0, err
    assert "options: retain-uids; originals encrypted for client.pem" in out
    status, out, err = cli(capsys, "reid", received, "--identity", "courier", "--out",
                           tmp_path / "reid")  # fmt: skip
    assert status == 0, err
    names = {str(pydicom.dcmread(p).PatientName) for p in (tmp_path / "reid").iterdir()}
    assert names == {"Secretname^Jane"}
    assert {str(pydicom.dcmread(p).PatientName) for p in received.iterdir()} == {""}


def test_copies_kept_for_retry_removed_on_cancel_and_swept_after_a_crash(
    home: Path, media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = free_port()
    assert cli(capsys, *node_add("Down", "DCMTK_SCP", closed, "--deid"))[0] == 0
    status, out, _ = cli(capsys, "send", "Down", media, "--attempts", "1")
    assert status == 1 and "sent 0 of 3" in out
    [kept] = (home / "deidentified").iterdir()  # a failed job keeps its copies to retry
    assert len(list(kept.rglob("*.dcm"))) == 3
    job = out.rsplit("job ", 1)[1].split()[0]
    assert cli(capsys, "queue", "cancel", job)[0] == 0
    assert list((home / "deidentified").iterdir()) == []

    # a crash left: copies no job names (killed before queueing), and copies of a job still
    # pending (killed while sending): the first are swept at start, the second kept to resume
    orphan = home / "deidentified" / "job-orphan"
    (orphan / "series").mkdir(parents=True)
    (orphan / "series" / "copy.dcm").write_bytes(b"DICM")
    pending = home / "deidentified" / "job-pending"
    pending.mkdir()
    copy = pending / "copy.dcm"
    shutil.copy(next(media.iterdir()), copy)
    queue = TransferQueue(home / "queue.sqlite")
    queue.enqueue("Gone", [StoreItem(copy, "1.2.3", "1.2.3.4", "1.2.840.10008.1.2.1", 0)], "x")
    young = home / "deidentified" / "job-young"  # being made by another process right now
    young.mkdir()
    old = time.time() - 3600
    for area in (orphan, pending):
        os.utime(area, (old, old))
    status, _, err = cli(capsys, "queue", "run")
    assert status == 1 and "no node named 'Gone'" in err
    assert sorted(p.name for p in (home / "deidentified").iterdir()) == [
        "job-pending",
        "job-young",
    ]


def test_node_settings_are_checked(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(capsys, *node_add("A", "X", 104, "--deid-option", "retain-uids"))
    assert status == 1 and "apply only to a node that de-identifies: add --deid" in err
    status, _, err = cli(capsys, *node_add("A", "X", 104, "--deid", "--deid-option", "nope"))
    assert status == 1 and "unknown de-identification option 'nope'" in err
    status, _, err = cli(capsys, *node_add("A", "X", 104, "--deid", "--deid-recipient", "no.pem"))
    assert status == 1 and "no.pem: no such certificate file" in err
    assert cli(capsys, *node_add("A", "X", 104, "--deid", "--deid-option", "retain-uids"))[0] == 0
    status, out, _ = cli(capsys, "node", "edit", "A", "--no-deid")
    assert status == 0 and "de-identifies" not in out


def test_a_send_recipient_is_checked_as_deid_checks_it(
    home: Path, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    """send --deid (and a node set to de-identify) took a CA's or any certificate."""
    from tests.security.test_seal import _signing_only_leaf

    port, received = free_port(), tmp_path / "received"
    assert cli(capsys, *node_add("Plain", "DCMTK_SCP", port))[0] == 0
    for recipient, reason in (
        (pki.path("root-only"), "it is a CA certificate"),
        (pki.path("rogue_client"), "not issued by a CA the keystore trusts"),
        (_signing_only_leaf(pki, tmp_path), "does not allow keyEncipherment"),
    ):
        status, _, err = cli(capsys, "send", "Plain", media, "--deid", "--recipient", recipient)
        assert (status, reason) == (1, reason) and reason in err, err
    assert cli(capsys, *node_add("Research", "DCMTK_SCP", port, "--deid",
                                 "--deid-recipient", pki.path("root-only")))[0] == 0  # fmt: skip
    status, _, err = cli(capsys, "send", "Research", media)
    assert status == 1 and "it is a CA certificate" in err
    assert not (home / "queue.sqlite").exists()  # nothing was queued
    with storescp_plain(received, port):
        status, _, err = cli(capsys, "send", "Plain", media, "--deid", "--recipient",
                             pki.path("rogue_client"), "--untrusted-recipient")  # fmt: skip
    assert status == 0, err
    assert "recipient: CN=rogue-client.test" in err and "NOT issued by a CA" in err
    assert len(list(received.iterdir())) == 3
