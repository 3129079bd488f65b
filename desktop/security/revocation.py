"""Certificate revocation lists in the keystore (``keystore/crls/``), checked in every TLS
context we build once any is imported.

One CRL is kept per issuer (the newest), named by its ``id`` (16 hex digits of the issuer's
hash) in ``keystore list`` and ``keystore remove``. It is taken only from an issuer whose
certificate is in the keystore (a trusted CA or a chain certificate of one of our identities),
its signature checked; OpenSSL checks it again at every handshake. With CRLs loaded, a context
checks the peer's leaf certificate (``VERIFY_CRL_CHECK_LEAF``): a revoked certificate fails
the handshake, and so does one whose issuer has no CRL here (OpenSSL cannot tell it is not
revoked).

Light to import: cryptography loads only when a CRL is there to read (every TLS context asks).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.files import write_atomic
from desktop.security.errors import KeystoreError
from desktop.security.keystore import Keystore
from desktop.security.tls import private_file

if TYPE_CHECKING:
    from cryptography import x509

    from desktop.security.signing import Trust

log = logging.getLogger(__name__)
EXPIRY_WARNING_DAYS = 7
PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CrlInfo:
    """An imported CRL, in words."""

    issuer: str
    last_update: dt.datetime
    next_update: dt.datetime | None
    revoked: int
    id: str = ""  #: its name in the keystore (``keystore remove ID``)
    kept_newer: bool = False  # the keystore already held a newer CRL of this issuer

    def describe(self) -> str:
        until = f", next update {self.next_update:%Y-%m-%d}" if self.next_update else ""
        return (
            f"CRL of {self.issuer}: {self.revoked} revoked, issued "
            f"{self.last_update:%Y-%m-%d}{until}"
        )

    def expiry(self, now: dt.datetime) -> str:
        """A warning when the next update is near or past (every TLS peer of this issuer is
        then refused), else ""."""
        if self.next_update is None:
            return ""
        if self.next_update < now:
            return f"expired on {self.next_update:%Y-%m-%d}: import the CA's current CRL"
        days = (self.next_update - now).days
        if days < EXPIRY_WARNING_DAYS:
            return f"next update due in {days} days: import the CA's new CRL by then"
        return ""

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "issuer": self.issuer,
            "this_update": self.last_update.isoformat(),
            "next_update": self.next_update.isoformat() if self.next_update else None,
            "revoked": self.revoked,
        }


def _parse(data: bytes, name: str) -> list[x509.CertificateRevocationList]:
    from cryptography import x509

    try:
        blocks = PEM_CRL.findall(data)
        if blocks:
            return [x509.load_pem_x509_crl(block) for block in blocks]
        return [x509.load_der_x509_crl(data)]
    except ValueError as error:
        raise KeystoreError(f"{name} is not a certificate revocation list (PEM or DER)") from error


def _folder(keystore: Keystore) -> Path:
    folder = keystore.folder / "crls"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _issuers(keystore: Keystore) -> list[x509.Certificate]:
    """Certificates that may sign a CRL: trusted CAs and our identities' chains."""
    pems = [info.pem for info in keystore.trusted()]
    pems += [c.pem for identity in keystore.identities() for c in identity.chain]
    return [_certificate(pem) for pem in pems]


def import_crl(keystore: Keystore, path: Path, *, now: dt.datetime | None = None) -> list[CrlInfo]:
    """Store the CRLs of a PEM or DER file, each replacing an older CRL of its issuer (each
    stored one told to the keystore's observer)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeystoreError(f"cannot read {path}: {error.strerror}") from error
    now = now or dt.datetime.now(dt.UTC)
    issuers = _issuers(keystore)
    stored = [_store(keystore, crl, issuers, now, path.name) for crl in _parse(data, path.name)]
    for info in stored:
        if not info.kept_newer:
            keystore.record_change(f"imported {info.describe()}")
    return stored


def _store(
    keystore: Keystore,
    crl: x509.CertificateRevocationList,
    issuers: list[x509.Certificate],
    now: dt.datetime,
    name: str,
) -> CrlInfo:
    from cryptography.hazmat.primitives import serialization

    issuer_name = crl.issuer.rfc4514_string()
    signer = next((c for c in issuers if c.subject == crl.issuer), None)
    if signer is None:
        raise KeystoreError(
            f"{name}: refused: the CRL's issuer {issuer_name} is not a CA the keystore trusts "
            "(import that CA first): its CRL would never be used, nor could its signature be "
            "checked"
        )
    if not crl.is_signature_valid(signer.public_key()):  # type: ignore[arg-type]
        raise KeystoreError(f"{name}: the CRL's signature does not match its issuer {issuer_name}")
    next_update = crl.next_update_utc
    if next_update is not None and next_update < now:
        raise KeystoreError(
            f"{name}: the CRL of {issuer_name} expired on {next_update:%Y-%m-%d}; "
            "get the current one from the CA (a handshake would fail with an expired CRL)"
        )
    target = _folder(keystore) / f"{hashlib.sha256(crl.issuer.public_bytes()).hexdigest()[:16]}.pem"
    info = _info(crl, target)
    if target.exists():
        held = _parse(target.read_bytes(), target.name)[0]
        if held.last_update_utc > crl.last_update_utc:
            return replace(info, kept_newer=True)
    write_atomic(target, crl.public_bytes(serialization.Encoding.PEM))
    return info


def _info(crl: x509.CertificateRevocationList, path: Path) -> CrlInfo:
    return CrlInfo(
        crl.issuer.rfc4514_string(), crl.last_update_utc, crl.next_update_utc, len(crl), path.stem
    )


def held_crls(keystore: Keystore) -> list[CrlInfo]:
    """The CRLs the keystore holds, by issuer (damaged files left out: ``crls_pem`` warns)."""
    folder = keystore.folder / "crls"
    found = []
    for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
        try:
            found.append(_info(_parse(path.read_bytes(), path.name)[0], path))
        except (OSError, KeystoreError):
            continue
    return sorted(found, key=lambda info: info.issuer)


def remove_crl(keystore: Keystore, reference: str) -> CrlInfo | None:
    """Remove the CRL whose id starts with ``reference`` (6+ hex digits; told to the
    keystore's observer); None when no CRL has that id."""
    wanted = reference.lower()
    matches = [i for i in held_crls(keystore) if len(wanted) >= 6 and i.id.startswith(wanted)]
    if len(matches) != 1:
        return None
    (keystore.folder / "crls" / f"{matches[0].id}.pem").unlink(missing_ok=True)
    keystore.record_change(f"removed {matches[0].describe()}")
    return matches[0]


def crls_pem(keystore: Keystore) -> bytes:
    """Every stored CRL as one PEM bundle (damaged files are reported and skipped)."""
    folder = keystore.folder / "crls"
    if not folder.is_dir():
        return b""
    bundle = b""
    for path in sorted(folder.glob("*.pem")):
        try:
            data = path.read_bytes()
            _parse(data, path.name)
        except (OSError, KeystoreError) as error:
            log.warning("skipping the damaged CRL %s: %s", path.name, error)
            continue
        bundle += data
    return bundle


def keystore_crls(keystore: Keystore) -> list[x509.CertificateRevocationList]:
    """Every stored CRL, loaded: a signer's or a recipient's certificate is checked against
    them as a TLS peer's is."""
    bundle = crls_pem(keystore)
    return _parse(bundle, "the keystore's revocation lists") if bundle else []


def keystore_trust(keystore: Keystore) -> Trust:
    """What a certificate is judged against: the keystore's trusted CAs as anchors, its
    identities' chains as known intermediates, its revocation lists (the ones TLS checks)."""
    from desktop.security.signing import Trust

    anchors = [_certificate(info.pem) for info in keystore.trusted()]
    known = [_certificate(c.pem) for i in keystore.identities() for c in i.chain]
    return Trust(anchors, anchors + known, keystore_crls(keystore))


def revoked_entries(keystore: Keystore) -> dict[str, str]:
    """The trusted CAs and identities the keystore's revocation lists revoke (for an
    identity: its certificate or a CA of its chain), by SHA-256 fingerprint, with what was
    revoked and when in words. Nothing is loaded when the keystore holds no CRL."""
    if not held_crls(keystore):
        return {}
    from desktop.security.signing import revocation

    trust = keystore_trust(keystore)
    chains = {info.fingerprint: [_certificate(info.pem)] for info in keystore.trusted()}
    for identity in keystore.identities():
        chains[identity.certificate.fingerprint] = [
            _certificate(c.pem) for c in (identity.certificate, *identity.chain)
        ]
    found = {fingerprint: revocation(chain, trust) for fingerprint, chain in chains.items()}
    return {fingerprint: why for fingerprint, why in found.items() if why}


def _certificate(pem: str) -> x509.Certificate:
    from desktop.security.certificates import load_certificates

    return load_certificates(pem.encode("ascii"), "keystore")[0]


def check_revocation(context: ssl.SSLContext, crls: bytes) -> None:
    """Make ``context`` check the peer's leaf certificate against ``crls`` (if any)."""
    if not crls:
        return
    with private_file(crls) as path:
        context.load_verify_locations(cafile=str(path))
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
