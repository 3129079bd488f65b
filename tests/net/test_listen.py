"""Our storage SCP: DCMTK's storescu sends to it over mutual TLS; idle and failed connections
neither stall it nor go unrecorded."""

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from desktop.connect import listener_tls
from desktop.net.scp import ListenerSettings, StorageListener, stored_path
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile
from tests.helpers import require_tool
from tests.net.conftest import PASSWORD, make_study
from tests.peers import storescu_tls
from tests.pki import KEY_PASSWORD, Pki

pytestmark = pytest.mark.dcmtk


@pytest.fixture
def listener(home: Path, pki: Pki, tmp_path: Path) -> Iterator[tuple[StorageListener, list[Any]]]:
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    records: list[dict[str, Any]] = []
    settings = ListenerSettings("COURIER", "127.0.0.1", 0, tmp_path / "inbox", ["STORESCU"])
    settings.tls_context, acceptor = listener_tls(keystore, "scp", Profile.BCP195_ND)
    server = StorageListener(settings, records.append, acceptor).start()
    yield server, records
    server.stop()


def filed_at(out: Path, sent: pydicom.Dataset) -> Path:
    """Where the listener files the instance ``sent`` under ``out``."""
    return stored_path(
        out,
        str(sent.PatientID),
        str(sent.StudyInstanceUID),
        str(sent.SeriesInstanceUID),
        str(sent.SOPInstanceUID),
    )


def test_storescu_sends_over_mutual_tls(
    listener: tuple[StorageListener, list[Any]], pki: Pki, tmp_path: Path
) -> None:
    server, records = listener
    files = make_study(tmp_path / "study", count=5)
    result = storescu_tls(pki, server.port, files)
    assert result.returncode == 0, result.stderr
    stored = [r for r in records if r["event"] == "stored"]
    assert len(stored) == 5
    for path in files:
        sent = pydicom.dcmread(path)
        target = filed_at(server.settings.out, sent)
        assert pydicom.dcmread(target).PixelData == sent.PixelData
    handshakes = [r["transcript"] for r in records if r["event"] == "handshake"]
    assert handshakes and all(t["ok"] and t["protocol"] == "TLSv1.3" for t in handshakes)
    assert handshakes[0]["peer_chain"][0]["subject"] == "CN=client.test,O=DICOM Courier"


def test_idle_connection_does_not_stall_others(
    listener: tuple[StorageListener, list[Any]], pki: Pki, tmp_path: Path
) -> None:
    server, _ = listener
    idle = socket.create_connection(("127.0.0.1", server.port))  # never says a word
    try:
        files = make_study(tmp_path / "study", count=1)
        start = time.monotonic()
        result = storescu_tls(pki, server.port, files)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - start < 5
    finally:
        idle.close()


def test_failed_handshakes_are_recorded(
    listener: tuple[StorageListener, list[Any]], pki: Pki, tmp_path: Path
) -> None:
    server, records = listener
    files = make_study(tmp_path / "study", count=1)
    plain = subprocess.run(
        [
            require_tool("storescu"),
            "-aet",
            "STORESCU",
            "-aec",
            "COURIER",
            "127.0.0.1",
            str(server.port),
            str(files[0]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode != 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(r["event"] == "handshake" for r in records):
        time.sleep(0.05)
    [handshake] = [r["transcript"] for r in records if r["event"] == "handshake"]
    assert not handshake["ok"] and handshake["diagnosis"]["code"] == "plain-client"


def test_unknown_calling_ae_title_is_refused(
    listener: tuple[StorageListener, list[Any]], pki: Pki, tmp_path: Path
) -> None:
    server, records = listener
    files = make_study(tmp_path / "study", count=1)
    result = storescu_tls(pki, server.port, files, "-aet", "INTRUDER")
    assert result.returncode != 0 or "Rejected" in result.stderr + result.stdout
    assert not any(r["event"] == "stored" for r in records)
    assert any(r["event"] == "association-rejected" and r["calling"] == "INTRUDER" for r in records)


def _idle_sockets(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that never say a word: half from 127.0.0.1 (where storescu comes
    from), half spread over 25 other loopback addresses."""
    idle = []
    for number in range(count):
        source = "127.0.0.1" if number % 2 else f"127.0.0.{2 + number % 50 // 2}"
        idle.append(socket.create_connection(("127.0.0.1", port), source_address=(source, 0)))
    return idle


def test_a_hundred_idle_sockets_do_not_lock_an_allowed_sender_out(
    listener: tuple[StorageListener, list[Any]], pki: Pki, tmp_path: Path
) -> None:
    server, records = listener
    idle = _idle_sockets(server.port, 100)
    try:
        files = make_study(tmp_path / "study", count=1)
        start = time.monotonic()
        result = storescu_tls(pki, server.port, files)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - start < 3  # not after the idle ones time out
    finally:
        for connection in idle:
            connection.close()
    assert any(r["event"] == "stored" for r in records)
    capped = [r for r in records if r.get("capped")]
    assert capped and "waiting connections from 127.0.0.1" in capped[0]["reason"]
    assert len([r for r in capped if r["peer"].startswith("127.0.0.1:")]) <= 5  # rate-limited


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("SOPInstanceUID", "../../../../tmp/pwn", "SOP Instance UID '../../../../tmp/pwn'"),
        ("StudyInstanceUID", "..", "Study Instance UID '..'"),
        ("SeriesInstanceUID", "1.2.abc", "Series Instance UID '1.2.abc'"),
    ],
)
def test_an_instance_whose_uid_is_not_a_uid_is_refused_in_words(
    listener: tuple[StorageListener, list[Any]],
    pki: Pki,
    tmp_path: Path,
    recwarn: pytest.WarningsRecorder,
    attribute: str,
    value: str,
    reason: str,
) -> None:
    server, records = listener
    [path] = make_study(tmp_path / "study", count=1)
    dataset = pydicom.dcmread(path)
    setattr(dataset, attribute, value)
    if attribute == "SOPInstanceUID":
        dataset.file_meta.MediaStorageSOPInstanceUID = value
    dataset.save_as(path)
    recwarn.clear()
    result = storescu_tls(pki, server.port, [path])
    assert result.returncode != 0  # storescu saw the refusal
    [failed] = [r for r in records if r["event"] == "store-failed"]
    assert failed["status"] == 0xC000 and f"the {reason} is not a valid UID" in failed["error"]
    assert not [r for r in records if r["event"] == "stored"]
    assert not list(server.settings.out.rglob("*.dcm"))
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_an_instance_already_imported_is_not_stored_twice_for_its_meta_header(
    listener: tuple[StorageListener, list[Any]], pki: Pki, tmp_path: Path
) -> None:
    """Import copies a file as it is; the listener writes its own meta header: the same data
    set received later is the same instance, not a second copy."""
    server, records = listener
    [path] = make_study(tmp_path / "study", count=1)
    sent = pydicom.dcmread(path)
    imported = filed_at(server.settings.out, sent)
    imported.parent.mkdir(parents=True)
    imported.write_bytes(path.read_bytes())
    result = storescu_tls(pki, server.port, [path])
    assert result.returncode == 0, result.stderr
    [stored] = [r for r in records if r["event"] == "stored"]
    assert stored["duplicate"] and stored["path"] == str(imported)
    assert [p.name for p in imported.parent.iterdir()] == [imported.name]


def test_a_port_in_use_is_said_in_plain_words(tmp_path: Path) -> None:
    """Not "Address already in use (while attempting to bind on address ('127.0.0.1', N))"
    (tester's G12, 3): what it means and what to do."""
    from desktop.net.scp import ListenerError

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = ListenerSettings("COURIER", "127.0.0.1", port, tmp_path / "inbox")
        with pytest.raises(ListenerError) as refused:
            StorageListener(settings, lambda record: None).start()
    assert str(refused.value) == (
        f"port {port} on 127.0.0.1 is already in use by another program (another DICOM "
        "Courier listener?): choose another port or stop it"
    )
