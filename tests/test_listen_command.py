"""``dicom-courier listen``'s arguments: refused in one line, and an open door refused."""

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import cli, require_tool, sample_file
from tests.peers import free_port, running, storescu_tls

if TYPE_CHECKING:  # cryptography only when a test asks for the PKI
    from tests.pki import Pki


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (("--port", "99999"), "a port is a number from 1 to 65535, not '99999'"),
        (("--ae", "TOO LONG AE TITLE XX"), "an AE title is 1 to 16 printable ASCII characters"),
        (("--out", "/proc/foo"), "cannot use /proc/foo as the inbox: No such file or directory"),
    ],
)
def test_bad_arguments_get_one_line_not_a_traceback(
    home: Path, capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...], said: str
) -> None:
    """Tester's finding 36: a traceback (port, --out) or a title no peer can call (--ae)."""
    try:
        status, _, err = cli(capsys, "listen", "--port", str(free_port()), *arguments)
    except SystemExit as exit_:  # argparse's usage error
        status, err = int(exit_.code or 0), capsys.readouterr().err
    assert status in (1, 2) and said in err, err
    assert "Traceback" not in err


def test_an_open_door_on_the_network_is_refused_unless_insecure(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tester's finding 35: 0.0.0.0, no TLS, no access list: the Inbox served to anyone."""
    port = free_port()
    status, _, err = cli(capsys, "listen", "--host", "0.0.0.0", "--port", port)
    assert status == 1 and "refused: anyone reaching 0.0.0.0:" in err and "--insecure" in err
    command = [sys.executable, "-m", "desktop.cli", "listen", "--host", "0.0.0.0"]
    command += ["--port", str(port), "--insecure"]
    log = tmp_path / "listen.log"
    with running(command, port, log, env={**os.environ, "DICOM_COURIER_HOME": str(home)}):
        sent = subprocess.run(
            [require_tool("storescu"), "-aec", "COURIER", "127.0.0.1", str(port),
             sample_file("CT_small.dcm")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
    said = log.read_text()
    assert "WARNING: anyone reaching 0.0.0.0:" in said and "(no TLS, no access list)" in said
    assert cli(capsys, "access", "allow", "MODALITY")[0] == 0  # a deliberate list: no refusal
    with running(command[:-1], port, tmp_path / "listed.log", env=dict(os.environ)):
        pass
    assert "WARNING" not in (tmp_path / "listed.log").read_text()


def test_an_identity_no_peer_accepts_as_a_server_is_refused_before_listening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: "Pki"
) -> None:
    """Tester's F11: a client-only certificate (clientAuth, no serverAuth) started a TLS
    listener that every peer then refused with OpenSSL's 'unsupported certificate'."""
    from tests.pki import prepare_home

    prepare_home(tmp_path / "home", monkeypatch, pki, "client", "a password")
    command = [sys.executable, "-m", "desktop.cli", "listen", "--port", str(free_port())]
    try:  # before the fix it listened, for ever
        done = subprocess.run(
            [*command, "--tls", "--identity", "courier"],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ),
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("listen started with a client-only certificate") from None
    assert done.returncode == 1, done.stderr
    assert "identity 'courier' cannot serve TLS" in done.stderr
    assert "lacks the serverAuth extended key usage" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_history_says_a_tls_listeners_associations_came_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pki: "Pki"
) -> None:
    """Verification N1: a TLS listener's events were listed by `history` as 'plain'."""
    from tests.pki import prepare_home

    prepare_home(tmp_path / "home", monkeypatch, pki, "server", "a password")
    port = free_port()
    command = [sys.executable, "-m", "desktop.cli", "listen", "--port", str(port)]
    command += ["--tls", "--identity", "courier"]
    with running(command, port, tmp_path / "listen.log", env=dict(os.environ)):
        refused = storescu_tls(pki, port, [sample_file("CT_small.dcm")], called="NOT_US")
    assert refused.returncode != 0  # over TLS, then rejected: a history record
    status, out, _ = cli(capsys, "history")
    assert status == 0
    [line] = [x for x in out.splitlines() if "association-rejected" in x]
    assert "STORESCU" in line and "TLS listener (bcp195-nd)" in line and "plain" not in line


def test_a_move_to_a_tls_node_without_the_keystore_password_is_refused_with_a_status(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: "Pki"
) -> None:
    """`listen` with no keystore password (no file, no variable, no terminal) and a TLS node:
    it says at start that moves to it will be refused, and a C-MOVE there is answered with a
    failure status naming why (tester's G4: the association was aborted, "internal error:
    PasswordError(...)" in the log, the mover told only "Peer aborted Association")."""
    from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
    from tests.helpers import node_add
    from tests.peers import wait_for_port
    from tests.pki import trusting_keystore

    trusting_keystore(home, pki, "keystore password", {"courier": "client"})
    added = cli(
        capsys, *node_add("pacs", "PACS_SCP", free_port(), "--tls", "--identity", "courier")
    )
    assert added[0] == 0, added
    study = StudySpec("M", "Move^Me", "20240101", "move", (SeriesSpec("CT", "ax", count=2),))
    [first, _] = write_files(tmp_path / "study", (study,))
    assert cli(capsys, "import", tmp_path / "study")[0] == 0
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DICOM_COURIER_KEYSTORE_PASSWORD"}
    log = tmp_path / "listen.log"
    with log.open("wb") as output:
        listening = subprocess.Popen(
            [sys.executable, "-m", "desktop.cli", "listen", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            env={**env, "DICOM_COURIER_HOME": str(home)},
        )  # fmt: skip
    try:
        wait_for_port(port, listening, log)
        import pydicom

        uid = pydicom.dcmread(first, stop_before_pixels=True).StudyInstanceUID
        moved = subprocess.run(
            [require_tool("movescu"), "-S", "-aet", "MOVER", "-aec", "COURIER", "-aem",
             "PACS_SCP", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uid}",
             "127.0.0.1", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        listening.terminate()
        listening.wait(timeout=10)
    said = moved.stdout + moved.stderr
    assert "Peer aborted" not in said, said
    assert "UnableToProcess" in said or "C000" in said, said
    logged = log.read_text()
    assert (
        "dicom-courier: warning: a C-MOVE to the TLS node(s) pacs will be refused: the "
        "keystore password is needed and there is no terminal to ask on"
    ) in logged, logged
    assert "internal error" not in logged and "PasswordError" not in logged, logged


def test_a_study_uid_already_held_for_another_patient_is_in_the_history_and_the_audit(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """G19: listen received a study UID held for another patient, kept it apart and only
    logged it: neither ``history`` nor the audit trail said so."""
    import json

    from pydicom import dcmread
    from pydicom.uid import generate_uid

    study = generate_uid()
    files = []
    for patient in ("P1", "OTHER-42"):
        ds = dcmread(sample_file("CT_small.dcm"))
        ds.PatientID, ds.StudyInstanceUID = patient, study
        ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        files.append(tmp_path / f"{patient}.dcm")
        ds.save_as(files[-1])
    port = free_port()
    command = [sys.executable, "-m", "desktop.cli", "listen", "--port", str(port)]
    log = tmp_path / "listen.log"
    with running(command, port, log, env=dict(os.environ)):
        for sent in files:  # one association each: P1's study is indexed before the other
            done = subprocess.run(
                [require_tool("storescu"), "-aec", "COURIER", "127.0.0.1", str(port), sent],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
    said = (
        f"study {study} received for patient OTHER-42 is already held for patient P1: kept "
        "apart as two studies, check which patient it belongs to before using it"
    )
    assert said in log.read_text()
    status, out, _ = cli(capsys, "history")
    [line] = [x for x in out.splitlines() if "study-of-two-patients" in x]
    assert status == 0 and "STORESCU" in line and f"WARNING: {said}" in line
    status, out, _ = cli(capsys, "audit", "--json", "--event", "110113")
    [alert] = [r for r in json.loads(out) if said in r["summary"]]
    assert status == 0 and alert["outcome"] == 4 and alert["node"] == "STORESCU"
    for patient in ("P1", "OTHER-42"):
        assert f'ParticipantObjectID="{patient}"' in alert["xml"]
    status, out, _ = cli(capsys, "audit", "--json", "--event", "110104")
    received = json.loads(out)
    assert status == 0 and len(received) == 2, [r["summary"] for r in received]
    for patient in ("P1", "OTHER-42"):  # each its own study, never merged under the first
        [mine] = [r for r in received if f'ParticipantObjectID="{patient}"' in r["xml"]]
        assert "1 instance(s) received" in mine["summary"]
