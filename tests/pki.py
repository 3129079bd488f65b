"""The tests' PKI: a root and an intermediate CA, good leaves, and every kind of bad one.

Keys are written to disk only encrypted (KEY_PASSWORD), as the product itself does.
"""

import datetime as dt
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from desktop.security.keystore import Keystore, UnlockedIdentity
from desktop.security.pki import DAY, Issued, ec_key, make_ca, make_leaf, rsa_key
from tests.helpers import require_tool

KEY_PASSWORD = "test-key-password"
#: The certificates the PKI writes (PEM, encrypted key, PKCS#12), by their attribute's name.
STEMS = (
    "root",
    "intermediate",
    "server",
    "client",
    "expired",
    "not_yet_valid",
    "expiring_soon",
    "client_only",
    "server_only",
    "other_host",
    "rsa1024",
    "ec",
    "ec192",
    "rogue_root",
    "rogue_server",
    "rogue_client",
    "revoked",
)


@dataclass
class Pki:
    folder: Path
    root: Issued
    intermediate: Issued
    server: Issued
    client: Issued
    expired: Issued
    not_yet_valid: Issued
    expiring_soon: Issued
    client_only: Issued
    server_only: Issued
    other_host: Issued
    rsa1024: Issued
    ec: Issued
    ec192: Issued
    rogue_root: Issued
    rogue_server: Issued
    rogue_client: Issued
    revoked: Issued
    sha1_certificate: x509.Certificate

    def path(self, stem: str, suffix: str = ".pem") -> Path:
        return self.folder / f"{stem}{suffix}"

    def unlocked(self, issued: Issued, name: str = "test") -> UnlockedIdentity:
        return UnlockedIdentity(name, issued.key, issued.certificate, issued.chain)


def build_pki(folder: Path) -> Pki:
    now = dt.datetime.now(dt.UTC)
    root = make_ca("Test Root CA")
    intermediate = make_ca("Test Intermediate CA", issuer=root)
    rogue_root = make_ca("Rogue Root CA")
    pki = Pki(
        folder=folder,
        root=root,
        intermediate=intermediate,
        server=make_leaf("server.test", intermediate),
        client=make_leaf("client.test", intermediate, server=False),
        expired=make_leaf(
            "expired.test", intermediate, not_before=now - 400 * DAY, lifetime=30 * DAY
        ),
        not_yet_valid=make_leaf("future.test", intermediate, not_before=now + 30 * DAY),
        expiring_soon=make_leaf("soon.test", intermediate, lifetime=11 * DAY),
        client_only=make_leaf("client-only.test", intermediate, server=False),
        server_only=make_leaf("server-only.test", intermediate, client=False),
        other_host=make_leaf("other.test", intermediate, names=("other.example",)),
        rsa1024=make_leaf("rsa1024.test", intermediate, key=rsa_key(1024)),
        ec=make_leaf("ec.test", intermediate, key=ec_key()),
        ec192=make_leaf("ec192.test", intermediate, key=ec_key(ec.SECP192R1())),
        rogue_root=rogue_root,
        rogue_server=make_leaf("rogue-server.test", rogue_root),
        rogue_client=make_leaf("rogue-client.test", rogue_root, server=False),
        revoked=make_leaf("revoked.test", intermediate, server=False),
        sha1_certificate=root.certificate,  # replaced below
    )
    for stem in STEMS:
        issued: Issued = getattr(pki, stem)
        issued.write(folder, stem, KEY_PASSWORD)
        (folder / f"{stem}.p12").write_bytes(issued.pkcs12(KEY_PASSWORD))
    pem = serialization.Encoding.PEM
    (folder / "root-only.pem").write_bytes(root.certificate.public_bytes(pem))
    (folder / "root.der").write_bytes(root.certificate.public_bytes(serialization.Encoding.DER))
    (folder / "bundle.pem").write_bytes(
        root.certificate.public_bytes(pem) + intermediate.certificate.public_bytes(pem)
    )
    (folder / "cas.p7b").write_bytes(
        pkcs7.serialize_certificates(
            [root.certificate, intermediate.certificate], serialization.Encoding.DER
        )
    )
    (folder / "intermediate-only.pem").write_bytes(intermediate.certificate.public_bytes(pem))
    (folder / "rogue-root-only.pem").write_bytes(rogue_root.certificate.public_bytes(pem))
    pki.sha1_certificate = _sha1_leaf(folder)
    (folder / "intermediate.crl").write_bytes(
        revocation_list(pki.intermediate, pki.revoked).public_bytes(pem)
    )
    return pki


def revocation_list(issuer: Issued, revoked: Issued) -> x509.CertificateRevocationList:
    """``issuer``'s CRL, revoking ``revoked`` (the intermediate's revokes the 'revoked'
    leaf: intermediate.crl)."""
    now = dt.datetime.now(dt.UTC)
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(revoked.certificate.serial_number)
        .revocation_date(now - DAY)
        .build()
    )
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now - DAY)
        .next_update(now + 30 * DAY)
        .add_revoked_certificate(entry)
        .sign(issuer.key, hashes.SHA256())
    )  # type: ignore[arg-type]


def _sha1_leaf(folder: Path) -> x509.Certificate:
    """A leaf signed with SHA-1 by the intermediate: cryptography refuses to make one, so the
    openssl command line does (from a request with the 'client' key)."""
    openssl = require_tool("openssl")
    secret = f"pass:{KEY_PASSWORD}"
    request, extensions, out = folder / "sha1.csr", folder / "sha1.ext", folder / "sha1.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-new",
            "-key",
            folder / "client.key",
            "-passin",
            secret,
            "-subj",
            "/O=DICOM Courier/CN=sha1.test",
            "-out",
            request,
        ],
        check=True,
        capture_output=True,
    )
    extensions.write_text(
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    subprocess.run(
        [
            openssl,
            "x509",
            "-req",
            "-in",
            request,
            "-CA",
            folder / "intermediate.pem",
            "-CAkey",
            folder / "intermediate.key",
            "-passin",
            secret,
            "-sha1",
            "-days",
            "30",
            "-set_serial",
            "4242",
            "-extfile",
            extensions,
            "-out",
            out,
        ],
        check=True,
        capture_output=True,
    )
    return x509.load_pem_x509_certificate(out.read_bytes())


def prepare_home(
    folder: Path, monkeypatch: Any, pki: Pki, identity_stem: str, password: str
) -> Path:
    """A DICOM_COURIER_HOME whose keystore trusts the test root and holds identity
    'courier' (the PKI's ``identity_stem``), its password in the environment."""
    monkeypatch.setenv("DICOM_COURIER_HOME", str(folder))
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", password)
    trusting_keystore(folder, pki, password, {"courier": identity_stem})
    return folder


def trusting_keystore(
    home: Path, pki: Pki, password: str, identities: Mapping[str, str]
) -> Keystore:
    """The keystore of ``home`` (sealed with ``password``), trusting the test root and holding
    ``identities`` (their names and the PKI's stems)."""
    keystore = Keystore(home, lambda new: password)
    keystore.import_cas(pki.path("root-only"))
    for name, stem in identities.items():
        keystore.import_identity(name, pki.path(stem, ".p12"), file_password=KEY_PASSWORD)
    return keystore
