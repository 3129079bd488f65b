"""Our TLS listener's certificate rules, with DCMTK's storescu as the client: revoked
certificates (CRLs imported into the keystore), AE titles bound to certificate fingerprints,
failed handshakes recorded at a bounded rate."""

import hashlib
import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from desktop.connect import listener_tls, node_connector
from desktop.core.config import Node
from desktop.core.paths import courier_home
from desktop.net.link import LinkError
from desktop.net.ratelimit import PeerLimiter
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.keystore import Keystore
from desktop.security.pki import make_leaf
from desktop.security.revocation import import_crl
from desktop.security.tls import Profile
from tests.helpers import cli, require_tool
from tests.net.conftest import PASSWORD, make_study
from tests.peers import python_tls_server, server_context_for, storescu_tls
from tests.pki import KEY_PASSWORD, Pki, revocation_list

pytestmark = pytest.mark.dcmtk
Start = Callable[..., tuple[StorageListener, list[dict[str, Any]]]]


@pytest.fixture
def start_listener(home: Path, pki: Pki, tmp_path: Path) -> Iterator[Start]:
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    started: list[StorageListener] = []

    def start(*allowed: str) -> tuple[StorageListener, list[dict[str, Any]]]:
        records: list[dict[str, Any]] = []
        settings = ListenerSettings("COURIER", "127.0.0.1", 0, tmp_path / "inbox", list(allowed))
        settings.tls_context, acceptor = listener_tls(keystore, "scp", Profile.BCP195_ND)
        started.append(StorageListener(settings, records.append, acceptor).start())
        return started[-1], records

    yield start
    for server in started:
        server.stop()


def storescu_as(pki: Pki, stem: str, port: int, files: list[Path]) -> bool:
    """storescu presenting the PKI's ``stem`` certificate; True if it stored everything."""
    key, certificate = pki.path(stem, ".key"), pki.path(stem)
    if not certificate.exists():
        getattr(pki, stem).write(pki.folder, stem, KEY_PASSWORD)
    result = storescu_tls(pki, port, files, "+tls", str(key), str(certificate))
    return result.returncode == 0 and "Store Failed" not in result.stderr


def wait_for(records: list[dict[str, Any]], event: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in records if r["event"] == event]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return [r for r in records if r["event"] == event]


def test_a_revoked_client_certificate_is_refused_in_plain_words(
    start_listener: Start, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = cli(capsys, "keystore", "import-crl", pki.path("intermediate", ".crl"))
    assert status == 0 and "1 revoked" in out
    server, records = start_listener()
    files = make_study(tmp_path / "study", count=1)
    assert not storescu_as(pki, "revoked", server.port, files)
    failed = [r["transcript"] for r in wait_for(records, "handshake") if not r["transcript"]["ok"]]
    assert failed and failed[0]["diagnosis"]["code"] == "client-cert-revoked"
    assert "revoked" in failed[0]["diagnosis"]["summary"]
    assert not [r for r in records if r["event"] == "stored"]
    assert storescu_as(pki, "client", server.port, files)  # its CA's CRL does not name it


def test_a_running_listener_applies_a_crl_imported_and_a_ca_removed_meanwhile(
    start_listener: Start, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CRL imported (and the CA removed) while the listener runs applies from the next
    association, as an edited access list does (tester's G18: a revoked workstation went on
    querying and storing until the listener was restarted)."""
    server, records = start_listener()
    files = make_study(tmp_path / "study", count=1)
    assert storescu_as(pki, "revoked", server.port, files)  # no CRL yet: not known revoked
    status, out, _ = cli(capsys, "keystore", "import-crl", pki.path("intermediate", ".crl"))
    assert status == 0 and "1 revoked" in out
    assert not storescu_as(pki, "revoked", server.port, files)
    failed = [r["transcript"] for r in wait_for(records, "handshake") if not r["transcript"]["ok"]]
    assert failed and failed[-1]["diagnosis"]["code"] == "client-cert-revoked"
    assert storescu_as(pki, "client", server.port, files)  # its CA's CRL does not name it
    listed = cli(capsys, "keystore", "list", "--json")[1]
    for ca in json.loads(listed)["trusted_cas"]:
        assert cli(capsys, "keystore", "remove", ca["id"])[0] == 0
    assert not storescu_as(pki, "client", server.port, files)  # no CA trusts it now


def failure(records: list[dict[str, Any]]) -> str:
    """The first failed handshake's summary: what `listen` prints and `history` keeps."""
    failed = [r["transcript"] for r in wait_for(records, "handshake") if not r["transcript"]["ok"]]
    assert failed, records
    return str(failed[0]["diagnosis"]["summary"])


def test_a_client_that_does_not_trust_our_ca_is_said_in_plain_words(
    start_listener: Start, pki: Pki, tmp_path: Path
) -> None:
    """Tester's F11: the listener logged "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown
    ca (_ssl.c:1006)" for a client that refuses our certificate."""
    server, records = start_listener()
    client = [str(pki.path("client", ".key")), str(pki.path("client"))]
    result = subprocess.run(
        [
            require_tool("storescu"),
            *("+tls", *client, "+pw", KEY_PASSWORD, "+cf", str(pki.path("rogue_root"))),
            *("-aet", "STORESCU", "-aec", "COURIER", "127.0.0.1", str(server.port)),
            str(make_study(tmp_path / "study", count=1)[0]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    summary = failure(records)
    assert re.fullmatch(
        r"127\.0\.0\.1:\d+ refused our certificate: it does not trust the CA that issued "
        r"it \[TLSV1_ALERT_UNKNOWN_CA\]",
        summary,
    ), summary


def test_a_client_certificate_from_an_unknown_ca_is_said_in_plain_words(
    start_listener: Start, pki: Pki, tmp_path: Path
) -> None:
    server, records = start_listener()
    assert not storescu_as(pki, "rogue_client", server.port, make_study(tmp_path / "s", count=1))
    summary = failure(records)
    assert "'s certificate is not issued by a CA we trust [" in summary, summary
    assert "_ssl.c" not in summary


def _fingerprint(pki: Pki, stem: str) -> str:
    certificate = getattr(pki, stem).certificate
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_a_calling_ae_title_bound_to_a_certificate(
    start_listener: Start, pki: Pki, tmp_path: Path
) -> None:
    files = make_study(tmp_path / "study", count=1)
    bound = _fingerprint(pki, "client").upper()
    server, records = start_listener(
        f"STORESCU={':'.join(bound[i : i + 2] for i in range(0, 64, 2))}"
    )
    assert storescu_as(pki, "client", server.port, files)
    server, records = start_listener(f"STORESCU={_fingerprint(pki, 'client_only')}")
    assert not storescu_as(pki, "client", server.port, files)
    [rejected] = wait_for(records, "association-rejected")
    assert "bound to another client certificate" in rejected["reason"]


def refused(port: int, data: bytes) -> bool:
    """Send ``data`` instead of a ClientHello: True once the listener has closed on us."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(data)
        try:
            return plain.recv(1) == b""
        except ConnectionResetError:
            return True


def test_failed_handshakes_are_recorded_at_a_bounded_rate(start_listener: Start) -> None:
    server, records = start_listener()
    server.limiter = PeerLimiter(per_window=3, window=1.0)
    for _ in range(10):
        assert refused(server.port, b"\x01\x00\x00\x00\x00\x10" + bytes(16))  # plain DICOM
    time.sleep(1.2)
    assert refused(server.port, b"GET / HTTP/1.0\r\n\r\n")
    handshakes = wait_for(records, "handshake", 4)
    assert len(handshakes) == 4
    assert handshakes[-1]["suppressed_before"] == 7
    assert all(not r["transcript"]["ok"] for r in handshakes)


def _revoked_server(pki: Pki, tmp_path: Path, *, imported: bool = True) -> Path:
    """A server certificate (files 'revoked_server' in the PKI folder) that the
    intermediate's CRL (its path) revokes, imported into the home's keystore unless told."""
    revoked = make_leaf("revoked-server.test", pki.intermediate)
    revoked.write(pki.folder, "revoked_server", KEY_PASSWORD)
    crl = revocation_list(pki.intermediate, revoked)
    (tmp_path / "intermediate.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    if imported:
        import_crl(Keystore(courier_home(), lambda new: PASSWORD), tmp_path / "intermediate.crl")
    return tmp_path / "intermediate.crl"


def test_our_client_refuses_a_revoked_server(home: Path, pki: Pki, tmp_path: Path) -> None:
    _revoked_server(pki, tmp_path)
    keystore = Keystore(home, lambda new: PASSWORD)
    with python_tls_server(server_context_for(pki, "revoked_server")) as port:
        node = Node("revoked", "SCP", "127.0.0.1", port, tls=True, identity="courier")
        with pytest.raises(LinkError) as refused:
            node_connector(node, keystore)()
    assert refused.value.failure.code == "server-cert-revoked"
    assert "revoked" in refused.value.failure.text


def test_tls_check_says_a_server_is_revoked(
    home: Path, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _revoked_server(pki, tmp_path)
    with python_tls_server(server_context_for(pki, "revoked_server")) as port:
        status, _, err = cli(capsys, "tls-check", "127.0.0.1", port, "--identity", "courier")
    assert status != 0 and "is revoked" in err, err


def test_a_long_running_sender_applies_a_crl_imported_by_another_process(
    home: Path, pki: Pki, tmp_path: Path
) -> None:
    """The GUI's connections (``Services``, made once per node) are made again when the
    keystore's trust changes on disk: after a CRL revoking the server is imported from a
    shell, its next association is refused (tester's G17: the GUI went on sending)."""
    from desktop.app import Services
    from desktop.core.config import add_node

    crl = _revoked_server(pki, tmp_path, imported=False)
    services = Services(home, lambda new: PASSWORD)
    with python_tls_server(server_context_for(pki, "revoked_server")) as port:
        add_node(home, Node("pacs", "SCP", "127.0.0.1", port, tls=True, identity="courier"))
        _, connect, _ = services.connection("pacs")
        connect().sock.close()  # trusted: no CRL says otherwise yet
        import_crl(Keystore(home, lambda new: PASSWORD), crl)  # "from a shell"
        _, connect, _ = services.connection("pacs")
        with pytest.raises(LinkError) as refused:
            connect()
    assert refused.value.failure.code == "server-cert-revoked"
