"""TLS against DCMTK's storescp: every profile it has, and every diagnosis it can provoke."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from desktop.net.probe import speaks_plain_dicom
from desktop.security.handshake import ClientSettings, Transcript, check_tls
from desktop.security.pki import Issued
from desktop.security.probe import speaks_tls
from desktop.security.tls import Profile, client_context
from tests.peers import LOOPBACK, free_port, running, storescp_plain_command, storescp_tls_command
from tests.pki import Pki

pytestmark = pytest.mark.dcmtk


def check(
    pki: Pki,
    port: int,
    identity: Issued | None,
    *,
    trust: Issued | None = None,
    profile: Profile = Profile.BCP195_ND,
    server_name: str = "",
    check_hostname: bool = True,
) -> Transcript:
    trusted = (trust or pki.root).certificate.public_bytes(Encoding.PEM).decode()
    context = client_context(
        profile,
        trusted,
        pki.unlocked(identity) if identity else None,
        check_hostname=check_hostname,
    )
    settings = ClientSettings(
        LOOPBACK,
        port,
        profile,
        server_name=server_name,
        check_hostname=check_hostname,
        sent_identity=identity is not None,
        our_certificate=identity.certificate.public_bytes(Encoding.PEM).decode()
        if identity
        else "",
        timeout=5,
        dicom_probe=speaks_plain_dicom,
    )
    return check_tls(settings, context)


StartScp = Callable[..., tuple[int, AbstractContextManager[Popen[bytes]]]]


@pytest.fixture
def scp(pki: Pki, tmp_path: Path) -> StartScp:
    """Start storescp with TLS options (see storescp_tls_command); gives its port and runner."""

    def start(**options: Any) -> tuple[int, AbstractContextManager[Popen[bytes]]]:
        port = free_port()
        (tmp_path / "out").mkdir(exist_ok=True)
        command = storescp_tls_command(pki, tmp_path / "out", port, **options)
        return port, running(command, port, tmp_path / f"storescp-{port}.log")

    return start


@pytest.mark.parametrize(
    ("profile", "flag", "protocol"),
    [
        (Profile.BCP195_ND, "--profile-bcp195-nd", "TLSv1.3"),
        (Profile.BCP195_RFC8996, "--profile-bcp195-ex", "TLSv1.2"),
        (Profile.BCP195_RFC8996_MOD, "--profile-bcp195-nd", "TLSv1.3"),
        (Profile.BCP195, "--profile-bcp195", "TLSv1.3"),
    ],
)
def test_mutual_tls_under_each_profile(
    pki: Pki,
    scp: StartScp,
    profile: Profile,
    flag: str,
    protocol: str,
) -> None:
    port, peer = scp(profile=flag)
    with peer:
        transcript = check(pki, port, pki.client, profile=profile)
    assert transcript.ok, transcript.lines()
    assert transcript.protocol == protocol
    assert "GCM" in transcript.cipher or "CHACHA" in transcript.cipher
    assert [c.subject for c in transcript.peer_chain][:2] == [
        "CN=server.test,O=DICOM Courier",
        "CN=Test Intermediate CA,O=DICOM Courier",
    ]
    assert transcript.hostname_check == "passed"
    assert transcript.local.startswith("127.0.0.1:")
    legacy = [w for w in transcript.warnings if "legacy profile" in w]
    assert bool(legacy) == (profile is Profile.BCP195)


@pytest.mark.parametrize(
    ("identity", "code"),
    [
        (None, "client-cert-required"),
        ("rogue_client", "client-cert-unknown-ca"),
        ("expired", "client-cert-expired"),
    ],
)
def test_peer_rejects_our_certificate_after_the_tls13_handshake(
    pki: Pki,
    scp: StartScp,
    identity: str | None,
    code: str,
) -> None:
    port, peer = scp()
    with peer:
        transcript = check(pki, port, getattr(pki, identity) if identity else None)
    assert transcript.diagnosis is not None, transcript.lines()
    assert transcript.diagnosis.code == code, transcript.lines()
    if code == "client-cert-unknown-ca":
        assert "Rogue Root CA" in transcript.diagnosis.summary


def test_revoked_client_certificate(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    command = storescp_tls_command(pki, tmp_path, port)
    command[-3:-3] = ["+crl", pki.path("intermediate", ".crl")]
    with running(command, port, tmp_path / "storescp.log"):
        transcript = check(pki, port, pki.revoked)
    assert transcript.diagnosis is not None and transcript.diagnosis.code == "client-cert-revoked"


def test_untrusted_server_ca_names_the_issuer(pki: Pki, scp: StartScp) -> None:
    port, peer = scp()
    with peer:
        transcript = check(pki, port, pki.client, trust=pki.rogue_root)
    assert transcript.diagnosis is not None
    assert transcript.diagnosis.code == "untrusted-server-ca"
    assert "Test Root CA" in transcript.diagnosis.summary  # the issuer at the top of its chain
    assert transcript.peer_chain[0].subject == "CN=server.test,O=DICOM Courier"


def test_a_server_sending_no_intermediate_ca_is_said_so(pki: Pki, scp: StartScp) -> None:
    """DCMTK given a certificate file holding the leaf alone sends no intermediate CA: the
    root we trust issued it, so "a CA we do not trust, import it" misled; the usual cause,
    the server's incomplete chain, is named too (E12 of findings8)."""
    leaf = pki.server.certificate.public_bytes(Encoding.PEM)
    (pki.folder / "server-leaf-only.pem").write_bytes(leaf)
    (pki.folder / "server-leaf-only.key").write_bytes(pki.path("server", ".key").read_bytes())
    port, peer = scp(server="server-leaf-only")
    with peer:
        transcript = check(pki, port, pki.client)
    diagnosis = transcript.diagnosis
    assert diagnosis is not None and diagnosis.code == "untrusted-server-ca"
    assert [c.subject for c in transcript.peer_chain] == ["CN=server.test,O=DICOM Courier"]
    assert "(issuer: CN=Test Intermediate CA" in diagnosis.summary
    assert "sends its intermediate CA (the chain it sent ends at CN=server.test" in diagnosis.advice
    assert "install the full chain" in diagnosis.advice


@pytest.mark.parametrize(
    ("server", "code", "words"),
    [
        ("expired", "server-cert-expired", "expired on"),
        ("not_yet_valid", "server-cert-not-yet-valid", "is not valid before"),
    ],
)
def test_server_certificate_dates(
    pki: Pki,
    scp: StartScp,
    server: str,
    code: str,
    words: str,
) -> None:
    port, peer = scp(server=server)
    with peer:
        transcript = check(pki, port, pki.client)
    assert transcript.diagnosis is not None and transcript.diagnosis.code == code
    issued: Issued = getattr(pki, server)
    date = (
        issued.certificate.not_valid_after_utc
        if code.endswith("expired")
        else issued.certificate.not_valid_before_utc
    )
    assert words in transcript.diagnosis.summary
    assert f"{date:%Y-%m-%d}" in transcript.diagnosis.summary


def test_hostname_mismatch_and_turning_the_check_off(pki: Pki, scp: StartScp) -> None:
    port, peer = scp(server="other_host")
    with peer:
        refused = check(pki, port, pki.client)
        allowed = check(pki, port, pki.client, check_hostname=False)
    assert refused.diagnosis is not None and refused.diagnosis.code == "hostname-mismatch"
    assert "'127.0.0.1'" in refused.diagnosis.summary
    assert "DNS:other.example" in refused.diagnosis.summary
    assert refused.hostname_check == "failed"
    assert allowed.ok and allowed.hostname_check == "disabled"
    assert "hostname check turned off for this node" in allowed.warnings


def test_no_shared_cipher_with_an_ecdsa_server_over_tls12(pki: Pki, scp: StartScp) -> None:
    """DCMTK's extended profile is TLS 1.2 only; an EC server key needs ECDSA suites, which
    the non-downgrading profile does not have."""
    port, peer = scp(server="ec", profile="--profile-bcp195-ex")
    with peer:
        refused = check(pki, port, pki.client)
        accepted = check(pki, port, pki.client, profile=Profile.BCP195_RFC8996)
    assert refused.diagnosis is not None and refused.diagnosis.code == "no-shared-cipher"
    assert accepted.ok and accepted.cipher.startswith("ECDHE-ECDSA")


def test_plain_dicom_port(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    with running(storescp_plain_command(tmp_path, port), port, tmp_path / "plain.log"):
        transcript = check(pki, port, pki.client)
        assert speaks_plain_dicom(LOOPBACK, port, 5) and not speaks_tls(LOOPBACK, port, 5)
    assert transcript.diagnosis is not None and transcript.diagnosis.code == "plain-dicom-port"


def test_tls_port_is_recognised_for_plain_clients(pki: Pki, scp: StartScp) -> None:
    port, peer = scp()
    with peer:
        assert speaks_tls(LOOPBACK, port, 5)
        assert not speaks_plain_dicom(LOOPBACK, port, 2)


def test_connection_refused(pki: Pki) -> None:
    transcript = check(pki, free_port(), pki.client)
    assert transcript.diagnosis is not None
    assert transcript.diagnosis.code == "connection-refused"
