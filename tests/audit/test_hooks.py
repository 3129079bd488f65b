"""The events the application reports, with real peers: a send to DCMTK's storescp over mutual
TLS, a wrong keystore password, an untrusted server, instances received by our listener, a
refused incoming handshake, a query, an export. Every message validates against the schema."""

import base64
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from cryptography.hazmat.primitives.hashes import SHA256
from lxml import etree
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset

from desktop import auditing
from desktop.connect import listener_tls
from desktop.core.audit.store import AuditLog, Entry
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile
from tests.audit.reading import objects_by_role, study_count
from tests.audit.schema import schema_errors
from tests.helpers import cli, node_add, require_tool
from tests.net.conftest import PASSWORD, make_study
from tests.peers import (
    free_port,
    running,
    storescp_plain_command,
    storescp_tls_command,
    storescu_tls,
)
from tests.pki import KEY_PASSWORD, Pki, prepare_home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki) -> Path:
    return prepare_home(tmp_path / "home", monkeypatch, pki, "client", PASSWORD)


def entries(home: Path) -> list[Entry]:
    found = list(AuditLog(home / "audit").entries())
    assert all(schema_errors(e.xml) == [] for e in found)
    return found


def of(found: list[Entry], event: str) -> list[Entry]:
    return [e for e in found if e.event == event]


def test_a_send_reports_unlock_begin_and_transferred(
    home: Path, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = make_study(tmp_path / "study", count=5)
    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running(storescp_tls_command(pki, out, port), port, tmp_path / "storescp.log"):
        cli(capsys, *node_add("pacs", "DCMTK_SCP", port, "--tls", "--identity", "courier"))
        status, _, err = cli(capsys, "send", "pacs", tmp_path / "study")
        assert status == 0, err
    found = entries(home)
    assert [e.event for e in found] == [
        "110100",  # node add
        "110113",  # ... a change of the security configuration
        "110100",
        "110100",  # send
        "110114",
        "110102",
        "110104",
        "110100",
    ]
    [unlock] = of(found, "110114")
    assert unlock.outcome == 0 and "courier" in unlock.summary
    [begin], [done] = of(found, "110102"), of(found, "110104")
    assert begin.node == done.node == "pacs"
    assert (done.outcome, done.action) == (0, "R")
    assert "5 of 5 instance(s) stored" in done.summary
    sent = pydicom.dcmread(files[0])
    root = etree.fromstring(done.xml)
    objects = objects_by_role(root)
    assert objects["3"].get("ParticipantObjectID") == sent.StudyInstanceUID
    assert study_count(objects["3"]) == "5"
    assert objects["1"].get("ParticipantObjectID") == sent.PatientID
    destination = [p for p in root.iter("ActiveParticipant") if p.get("UserID") == "DCMTK_SCP"]
    assert destination[0].get("NetworkAccessPointID") == "127.0.0.1"


def test_a_wrong_keystore_password_and_an_untrusted_server_are_reported(
    home: Path,
    pki: Pki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    command = storescp_tls_command(pki, tmp_path, port, server="rogue_server")
    with running(command, port, tmp_path / "storescp.log"):
        cli(capsys, *node_add("pacs", "DCMTK_SCP", port, "--tls", "--identity", "courier"))
        assert cli(capsys, "echo", "pacs")[0] == 1
        monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", "not the password")
        status, _, err = cli(capsys, "echo", "pacs")
        assert status == 1 and "wrong keystore password" in err
    secret = tmp_path / "p12-password"
    secret.write_text(KEY_PASSWORD)
    p12 = pki.path("client", ".p12")
    status, _, err = cli(
        capsys, "keystore", "import-identity", "other", p12, "--file-password-file", secret
    )
    assert status == 1 and "wrong keystore password" in err
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", PASSWORD)
    port = free_port()
    command = storescp_tls_command(pki, tmp_path, port, trust="rogue-root-only.pem")
    with running(command, port, tmp_path / "storescp-rogue-ca.log"):
        cli(capsys, "node", "edit", "pacs", "--port", port)
        assert cli(capsys, "echo", "pacs")[0] == 1  # it refuses our certificate (TLS 1.3)
    found = entries(home)
    alerts = of(found, "110113")
    changes = [e.summary for e in alerts if e.outcome == 0]
    assert len(changes) == 2
    assert "node pacs added" in changes[0] and "node pacs changed" in changes[1]
    untrusted_server, refused_us = (e for e in alerts if e.outcome != 0)
    assert (untrusted_server.outcome, untrusted_server.node) == (8, "pacs")
    assert "outgoing TLS handshake" in untrusted_server.summary
    # storescp refuses with an alert (8: a certificate diagnosis) or by closing (4)
    assert (refused_us.outcome in (4, 8), refused_us.node) == (True, "pacs")
    assert "outgoing TLS handshake" in refused_us.summary
    assert [(e.outcome, "wrong keystore password" in e.summary) for e in of(found, "110114")] == [
        (0, False),
        (4, True),
        (4, True),
        (0, False),
    ]


@pytest.fixture
def audited_listener(home: Path, pki: Pki, tmp_path: Path) -> Iterator[StorageListener]:
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    auditing.install(home)
    settings = ListenerSettings("COURIER", "127.0.0.1", 0, tmp_path / "inbox")
    settings.tls_context, acceptor = listener_tls(keystore, "scp", Profile.BCP195_ND)
    server = StorageListener(settings, auditing.listener(lambda _: None, "COURIER"), acceptor)
    yield server.start()
    server.stop()
    auditing.uninstall()


def test_received_instances_and_a_refused_handshake_are_reported(
    audited_listener: StorageListener, home: Path, pki: Pki, tmp_path: Path
) -> None:
    files = make_study(tmp_path / "study", count=2)
    result = storescu_tls(pki, audited_listener.port, files)
    assert result.returncode == 0, result.stderr
    plain = [require_tool("storescu"), "127.0.0.1", str(audited_listener.port), str(files[0])]
    assert os.spawnv(os.P_WAIT, plain[0], plain) != 0
    deadline = time.monotonic() + 10  # received instances are reported once the sender is quiet
    while time.monotonic() < deadline and not (
        of(entries(home), "110113") and of(entries(home), "110104")
    ):
        time.sleep(0.05)
    found = entries(home)
    [received] = of(found, "110104")  # one message for the study, not one per instance
    assert (received.action, received.outcome, received.node) == ("C", 0, "STORESCU")
    assert "2 instance(s) received" in received.summary
    study = etree.fromstring(received.xml).find("ParticipantObjectIdentification")
    assert study.get("ParticipantObjectID") == pydicom.dcmread(files[0]).StudyInstanceUID
    assert study_count(study) == "2"
    [alert] = of(found, "110113")
    assert alert.outcome == 4 and "incoming TLS handshake" in alert.summary


def test_idle_connections_past_the_per_address_cap_are_reported(
    audited_listener: StorageListener, home: Path
) -> None:
    cap = audited_listener.settings.max_pending_per_host
    expected = f"{cap} waiting connections from 127.0.0.1 without an association request"

    def capped() -> list[Entry]:
        return [e for e in of(entries(home), "110113") if expected in e.summary]

    idle = [socket.create_connection(("127.0.0.1", audited_listener.port)) for _ in range(cap + 2)]
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not capped():
            time.sleep(0.05)
    finally:
        for connection in idle:
            connection.close()
    assert capped()


def test_failed_incoming_handshakes_are_audited_a_few_times_a_minute_per_peer(
    audited_listener: StorageListener, home: Path
) -> None:
    for _ in range(4):  # 4 x 6 connections that close without a handshake: 24 failures
        idle = [socket.create_connection(("127.0.0.1", audited_listener.port)) for _ in range(6)]
        for connection in idle:
            connection.sendall(b"\x01\x00")  # not TLS
            connection.close()
        time.sleep(0.3)
    time.sleep(1)
    alerts = [e for e in of(entries(home), "110113") if "incoming TLS handshake" in e.summary]
    assert 1 <= len(alerts) <= 5


def test_a_query_and_an_export_are_reported(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    with running(storescp_plain_command(tmp_path, port), port, tmp_path / "storescp.log"):
        cli(capsys, *node_add("store-only", "STORESCP", port))
        status = cli(capsys, "find", "store-only", "-k", "PatientName=DOE*")[0]
        assert status == 1  # storescp answers no C-FIND
    [image] = make_study(tmp_path / "study", count=1)
    png = tmp_path / "frame.png"
    assert cli(capsys, "export", image, "--png", png)[0] == 0
    found = entries(home)
    [query] = of(found, "110112")
    assert (query.outcome, query.node) == (8, "store-only")
    encoded = etree.fromstring(query.xml).findtext(
        "ParticipantObjectIdentification/ParticipantObjectQuery"
    )
    identifier = read_dataset(
        DicomBytesIO(base64.b64decode(encoded)), is_implicit_VR=False, is_little_endian=True
    )
    assert identifier.PatientName == "DOE*" and identifier.QueryRetrieveLevel == "STUDY"
    [export] = of(found, "110106")
    assert export.outcome == 0
    assert png.as_uri() in export.xml
    assert pydicom.dcmread(image).StudyInstanceUID in export.xml


def test_a_cancelled_or_failed_gui_export_is_not_reported_as_a_success(
    home: Path, tmp_path: Path
) -> None:
    [image] = make_study(tmp_path / "study", count=1)
    auditing.install(home)
    try:
        frames = auditing.export_frames(image, tmp_path / "cine.mp4", iter(range(10)))
        assert next(frames) == 0
        frames.close()  # the Cancel button of the progress dialog
        with pytest.raises(OSError, match="disk full"):
            auditing.export_file(image, tmp_path / "frame.png", _full_disk)
    finally:
        auditing.uninstall()
    exports = of(entries(home), "110106")
    assert [(e.outcome, e.summary.split(": ", 1)[1]) for e in exports] == [
        (8, "cancelled"),
        (8, "disk full"),
    ]


def _full_disk() -> None:
    raise OSError("disk full")


def test_changes_of_trust_and_nodes_are_reported(
    home: Path, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whom we trust and how we connect: each change is a 110113 Security Configuration."""
    key_password = tmp_path / "key-password"
    key_password.write_text(KEY_PASSWORD)
    for command in (
        ("keystore", "import-ca", pki.path("rogue-root-only")),
        ("keystore", "import-identity", "site-b", pki.path("server", ".p12")),
        ("keystore", "import-crl", pki.path("intermediate", ".crl")),
        node_add("pacs", "PACS", 104, "--tls", "--identity", "courier"),
        ("node", "edit", "pacs", "--rename", "archive", "--no-tls"),  # forgets the identity
        ("node", "edit", "archive", "--port", "104"),  # no change: nothing audited
        ("node", "remove", "archive"),
        ("keystore", "remove", "site-b"),
        ("keystore", "remove", pki.rogue_root.certificate.fingerprint(SHA256()).hex()[:8]),
    ):
        extra = ("--file-password-file", key_password) if "import-identity" in command else ()
        status, _, err = cli(capsys, *command, *extra)
        assert status == 0, (command, err)
    alerts = [e.summary for e in of(entries(home), "110113")]
    expected = [
        "trusted CA added: CN=Rogue Root CA",
        "identity site-b imported: CN=server.test",
        "imported CRL of CN=Test Intermediate CA",
        "node pacs added: PACS@127.0.0.1:104 as COURIER (TLS bcp195-nd, identity courier",
        "node archive (was pacs) changed: PACS@127.0.0.1:104 as COURIER (plain",
        "node archive removed",
        "removed identity site-b (CN=server.test",
        "removed trusted CA CN=Rogue Root CA",
    ]
    assert len(alerts) == len(expected), alerts
    for alert, start in zip(alerts, expected, strict=True):
        assert start in alert, (alert, start)


def test_deid_seal_unseal_and_reid_are_reported(
    home: Path, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tester's finding 49: these four wrote no record; re-identifying above all must be seen."""
    [image] = make_study(tmp_path / "study", count=1)
    study_uid = pydicom.dcmread(image).StudyInstanceUID
    recipient = ("--recipient", pki.path("client"))
    commands = [
        ("deid", image, "--out", tmp_path / "deid", *recipient),
        ("seal", image, "--out", tmp_path / "sealed", *recipient),
        (
            "unseal",
            tmp_path / "sealed" / image.name,
            "--identity",
            "courier",
            "--out",
            tmp_path / "o",
        ),
    ]
    for command in commands:
        status, _, err = cli(capsys, *command)
        assert status == 0, (command, err)
    [copy] = [p for p in (tmp_path / "deid").rglob("*") if p.is_file()]
    assert cli(capsys, "reid", copy, "--identity", "courier", "--out", tmp_path / "r")[0] == 0
    found = entries(home)
    exports = of(found, "110106")
    assert [e.summary.split(": ", 1)[1] for e in exports] == [
        "de-identified copies (the original values encrypted for a recipient): 1 file(s)",
        f"sealed for CN=client.test,O=DICOM Courier (SHA-256 "
        f"{pki.client.certificate.fingerprint(SHA256()).hex(':').upper()}), SHA-256 digest: "
        "1 file(s)",
    ]
    opened, restored = of(found, "110103")
    assert (opened.action, restored.action) == ("R", "C")
    assert "sealed files opened with identity courier: 1 file(s)" in opened.summary
    assert "re-identified: original patient identifiers restored with identity courier" in (
        restored.summary
    )
    for entry in (*exports, opened, restored):
        assert entry.outcome == 0
        assert study_uid in entry.xml and "NET-1" in entry.xml  # the real patient, not a pseudonym
    unlocks = [e.summary for e in of(found, "110114")]
    assert sum("keystore identity courier" in u for u in unlocks) == 2  # unseal, reid
