"""Storage commitment with Orthanc 1.10.1 over DICOM TLS, both ways: our ``send --commit``
answered by Orthanc's report to our ``listen`` (all committed; one instance it no longer
holds; no report at all), and Orthanc's own request answered by our listener."""

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from desktop.core.paths import courier_home
from desktop.net.queue import COMMITTED, FAILED, TransferQueue
from tests.helpers import cli
from tests.net.conftest import make_study
from tests.orthanc import Orthanc
from tests.peers import running


def outcome(orthanc: Orthanc, transaction: str) -> Any:
    """Orthanc's view of a storage commitment transaction once it is no longer pending."""
    deadline, report = time.monotonic() + 20, {}
    while time.monotonic() < deadline:
        report = orthanc.rest("GET", f"/storage-commitment/{transaction}")
        if report["Status"] != "Pending":
            break
        time.sleep(0.2)
    return report


@pytest.fixture
def listen(orthanc: Orthanc, tmp_path: Path) -> Iterator[None]:
    """``dicom-courier listen`` over TLS where Orthanc sends its reports."""
    command = [sys.executable, "-m", "desktop.cli", "listen", "--tls", "--identity", "courier"]
    command += ["--port", str(orthanc.move_port), "--out", str(tmp_path / "inbox")]
    with running(command, orthanc.move_port, tmp_path / "listen.log", env=os.environ.copy()):
        yield


def states(job: int) -> dict[str, tuple[str, str]]:
    """The commitment state and reason of each instance of ``job`` in the current home."""
    queue = TransferQueue(courier_home() / "queue.sqlite")
    try:
        return {
            i.item.sop_instance_uid: (i.commitment, i.commitment_reason)
            for i in queue.instances(job)
        }
    finally:
        queue.close()


def test_send_commit_to_orthanc_committed_or_not_by_its_report_to_listen(
    orthanc: Orthanc, listen: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = make_study(tmp_path / "study", count=3)
    status, out, err = cli(
        capsys, "send", "orthanc", tmp_path / "study", "--commit", "--commit-wait", 30, "--json"
    )
    assert status == 0, out + err
    job = json.loads(out)
    assert job["state"] == "committed"
    assert job["committed"] == 3
    uids = {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}
    assert states(job["job"]) == dict.fromkeys(uids, (COMMITTED, ""))
    said = (tmp_path / "listen.log").read_text()
    assert "commitment-report (ORTHANC): transaction " in said
    assert ", 3 committed, 0 not" in said

    # another study, sent without commitment; Orthanc loses one instance; then we ask
    files = make_study(tmp_path / "second", count=3)
    status, out, err = cli(capsys, "send", "orthanc", tmp_path / "second", "--json")
    assert status == 0, out + err
    second = json.loads(out)["job"]
    gone = pydicom.dcmread(files[1])
    [found] = orthanc.rest("POST", "/tools/lookup", str(gone.SOPInstanceUID))
    orthanc.rest("DELETE", f"/instances/{found['ID']}")
    status, out, err = cli(capsys, "queue", "commit", second, "--commit-wait", 30)
    assert status == 1, out + err
    assert "commitment failed" in out
    assert f"NOT COMMITTED {files[1]}: not committed: no such object instance" in out
    result = states(second)
    assert result.pop(str(gone.SOPInstanceUID))[0] == FAILED
    assert {state for state, _ in result.values()} == {COMMITTED}


def test_without_a_report_the_instances_stay_waiting_never_committed(
    orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_study(tmp_path / "study", count=2)  # nothing listens where Orthanc reports
    start = time.monotonic()
    status, out, err = cli(
        capsys, "send", "orthanc", tmp_path / "study", "--commit", "--commit-wait", 2
    )
    assert time.monotonic() - start < 20
    assert status == 1, out + err
    assert "waiting for commitment" in out
    assert "committed" not in out.replace("waiting for commitment", "").replace("0 committed", "")
    job = TransferQueue(courier_home() / "queue.sqlite").jobs()[-1]
    assert (job.state, job.commit_waiting, job.committed) == ("waiting for commitment", 2, 0)


def test_orthanc_storing_to_us_with_commitment_gets_our_report_from_listen(
    orthanc: Orthanc, listen: None, tmp_path: Path
) -> None:
    files = make_study(tmp_path / "study", count=2)
    ids = [orthanc.upload(f) for f in files]
    answer = orthanc.rest(
        "POST",
        "/modalities/courier/store",
        {"Resources": ids, "StorageCommitment": True, "Synchronous": True},
    )
    transaction = answer["StorageCommitmentTransactionUID"]
    report = outcome(orthanc, transaction)
    said = (tmp_path / "listen.log").read_text()
    assert report["Status"] == "Success", (report, said)
    assert len(report["Success"]) == 2
    assert report["Failures"] == []
    assert f"commitment-requested (ORTHANC): transaction {transaction}, 2 committed" in said
    # Orthanc released its association at once: the report went on a new one, to the node
    assert "commitment-report-sent (ORTHANC)" in said

    # its storage-commitment request for one we hold and one we never received
    held = pydicom.dcmread(files[0])
    never = {"SOPClassUID": str(held.SOPClassUID), "SOPInstanceUID": "1.2.826.0.1.99.77"}
    asked = orthanc.rest(
        "POST",
        "/modalities/courier/storage-commitment",
        {
            "DicomInstances": [
                {"SOPClassUID": str(held.SOPClassUID), "SOPInstanceUID": str(held.SOPInstanceUID)},
                never,
            ]
        },
    )
    report = outcome(orthanc, asked["ID"])
    assert report["Status"] == "Failure", report
    assert [f["SOPInstanceUID"] for f in report["Failures"]] == [never["SOPInstanceUID"]]
    assert report["Failures"][0]["FailureReason"] == 0x0112
    assert [s["SOPInstanceUID"] for s in report["Success"]] == [str(held.SOPInstanceUID)]
