"""Diagnoses DCMTK cannot provoke, reached through real handshakes with Python's ssl servers."""

import ssl
import warnings

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from desktop.security.handshake import ClientSettings, Transcript, check_tls
from desktop.security.tls import Profile, client_context, server_context
from tests.peers import LOOPBACK, python_tls_server, server_context_for
from tests.pki import KEY_PASSWORD, Pki


def check(
    pki: Pki, port: int, profile: Profile = Profile.BCP195_ND, timeout: float = 5
) -> Transcript:
    trusted = pki.root.certificate.public_bytes(Encoding.PEM).decode()
    context = client_context(profile, trusted, pki.unlocked(pki.client))
    settings = ClientSettings(LOOPBACK, port, profile, sent_identity=True, timeout=timeout)
    return check_tls(settings, context)


def test_protocol_version_mismatch_and_the_legacy_profile(pki: Pki) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server = server_context_for(
            pki, "server", versions=(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
        )
    with python_tls_server(server) as port:
        refused = check(pki, port)
        legacy = check(pki, port, Profile.BCP195)
    assert refused.diagnosis is not None and refused.diagnosis.code == "protocol-mismatch"
    assert "bcp195" in refused.diagnosis.advice
    assert legacy.ok and legacy.protocol == "TLSv1.1"
    assert any("TLS 1.0 and 1.1 are allowed" in w for w in legacy.warnings)


def test_server_certificate_without_server_usage(pki: Pki) -> None:
    with python_tls_server(server_context_for(pki, "client_only")) as port:
        transcript = check(pki, port)
    assert transcript.diagnosis is not None
    assert transcript.diagnosis.code == "server-cert-wrong-usage"


@pytest.mark.parametrize("stem", ["rsa1024", "sha1"])
def test_strict_profile_refuses_weak_peer_certificates(pki: Pki, stem: str) -> None:
    server = server_context_for(pki, stem) if stem != "sha1" else _sha1_server(pki)
    with python_tls_server(server) as port:
        strict = check(pki, port, Profile.BCP195_RFC8996_MOD)
    assert strict.diagnosis is not None, strict.lines()
    assert strict.diagnosis.code == "weak-peer-certificate", strict.lines()


def _sha1_server(pki: Pki) -> ssl.SSLContext:
    """A server presenting the SHA-1-signed leaf (made with the 'client' key) and its chain."""
    bundle = pki.folder / "sha1-chain.pem"
    bundle.write_bytes(pki.path("sha1").read_bytes() + pki.path("intermediate-only").read_bytes())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(bundle, pki.path("client", ".key"), password=KEY_PASSWORD)
    return context


def test_silent_peer_times_out(pki: Pki) -> None:
    with python_tls_server(None) as port:
        transcript = check(pki, port, timeout=1)
    assert transcript.diagnosis is not None and transcript.diagnosis.code == "timeout"
    assert "did not complete the TLS handshake within 1 s" in transcript.diagnosis.summary


def test_our_server_context_requires_and_verifies_client_certificates(pki: Pki) -> None:
    trusted = pki.root.certificate.public_bytes(Encoding.PEM).decode()
    server = server_context(Profile.BCP195_ND, trusted, pki.unlocked(pki.server))
    with python_tls_server(server) as port:
        accepted = check(pki, port)
        anonymous = check_tls(
            ClientSettings(LOOPBACK, port, timeout=5),
            client_context(Profile.BCP195_ND, trusted, None),
        )
        rogue = check_tls(
            ClientSettings(LOOPBACK, port, sent_identity=True, timeout=5),
            client_context(Profile.BCP195_ND, trusted, pki.unlocked(pki.rogue_client)),
        )
    assert accepted.ok and accepted.protocol == "TLSv1.3"
    assert anonymous.diagnosis is not None
    assert anonymous.diagnosis.code == "client-cert-required"
    assert rogue.diagnosis is not None and rogue.diagnosis.code == "client-cert-unknown-ca"


def test_system_store_is_not_trusted_unless_asked(pki: Pki) -> None:
    trusted = pki.root.certificate.public_bytes(Encoding.PEM).decode()
    own_only = client_context(Profile.BCP195_ND, trusted, None)
    with_system = client_context(Profile.BCP195_ND, trusted, None, system_store=True)
    assert len(own_only.get_ca_certs()) == 1
    assert len(with_system.get_ca_certs()) >= 1
