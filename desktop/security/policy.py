"""Import checks: what makes a certificate or key unfit, or worth a warning."""

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from desktop.security.certificate_facts import MIN_RSA_BITS
from desktop.security.certificates import (
    CertificateInfo,
    PrivateKey,
    extended_key_usage,
    is_ca,
)

EXPIRY_WARNING = dt.timedelta(days=30)
MIN_EC_BITS = 256
WEAK_HASHES = frozenset({"md5", "sha1"})


class Severity(StrEnum):
    ERROR = "error"  # refused
    WARNING = "warning"  # accepted, and said


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    message: str


def _name(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or f"serial {certificate.serial_number:X}"


def validity(certificate: x509.Certificate, now: dt.datetime) -> list[Finding]:
    """Expired or not yet valid (errors); expiring within 30 days (a warning)."""
    name = _name(certificate)
    if now > certificate.not_valid_after_utc:
        return [
            Finding(
                Severity.ERROR,
                f"{name} expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
            )
        ]
    if now < certificate.not_valid_before_utc:
        return [
            Finding(
                Severity.ERROR,
                f"{name} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            )
        ]
    if certificate.not_valid_after_utc - now < EXPIRY_WARNING:
        days = (certificate.not_valid_after_utc - now).days
        return [
            Finding(
                Severity.WARNING,
                f"{name} expires in {days} days, on {certificate.not_valid_after_utc:%Y-%m-%d}",
            )
        ]
    return []


def strength(certificate: x509.Certificate, allow_legacy: bool) -> list[Finding]:
    """Short keys and MD5/SHA-1 signatures: refused, or warned when a legacy node needs them."""
    severity = Severity.WARNING if allow_legacy else Severity.ERROR
    suffix = (
        " (allowed for a legacy node)"
        if allow_legacy
        else ("; refused (allow it only for a legacy node that needs it)")
    )
    findings = []
    key = certificate.public_key()
    name = _name(certificate)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        findings.append(
            Finding(
                severity,
                f"{name} has a {key.key_size}-bit RSA key, under the "
                f"{MIN_RSA_BITS} bits required{suffix}",
            )
        )
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        findings.append(
            Finding(
                severity,
                f"{name} has a {key.curve.key_size}-bit EC key, under "
                f"the {MIN_EC_BITS} bits required{suffix}",
            )
        )
    algorithm = certificate.signature_hash_algorithm
    if algorithm is not None and algorithm.name in WEAK_HASHES:
        findings.append(
            Finding(
                severity, f"{name} is signed with {algorithm.name.upper()}, which is broken{suffix}"
            )
        )
    return findings


def _why_not_ca(certificate: x509.Certificate) -> str:
    try:
        certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return "it has no basic constraints extension"
    return "its basic constraints say CA:FALSE"


def ca_checks(certificate: x509.Certificate, now: dt.datetime, allow_legacy: bool) -> list[Finding]:
    """A trusted CA must be a CA, valid now and strong enough."""
    findings = validity(certificate, now) + strength(certificate, allow_legacy)
    if not is_ca(certificate):
        findings.insert(
            0,
            Finding(
                Severity.ERROR,
                f"{_name(certificate)} is not a CA certificate ({_why_not_ca(certificate)}): "
                "import it as an identity, or import the CA that issued it",
            ),
        )
    return findings


def identity_checks(
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    now: dt.datetime,
    allow_legacy: bool,
) -> list[Finding]:
    """Key matches certificate, validity, strength, usages (client and server), chain order."""
    findings = []
    if not _same_public_key(key, certificate):
        findings.append(
            Finding(
                Severity.ERROR,
                f"the private key does not belong to the certificate {_name(certificate)}",
            )
        )
    findings += validity(certificate, now) + strength(certificate, allow_legacy)
    usages = extended_key_usage(certificate)
    for usage, oid, acting in (
        ("clientAuth", ExtendedKeyUsageOID.CLIENT_AUTH, "a client (sending, querying)"),
        ("serverAuth", ExtendedKeyUsageOID.SERVER_AUTH, "a server (receiving)"),
    ):
        if usages is not None and oid not in usages:
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"the certificate lacks the {usage} extended key usage: peers will refuse it "
                    f"when we act as {acting}",
                )
            )
    for lower, upper in zip([certificate, *chain], chain, strict=False):
        if lower.issuer != upper.subject:
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"the chain is out of order: {_name(lower)} was not issued by {_name(upper)}",
                )
            )
        findings += [f for f in validity(upper, now) if f.severity is Severity.ERROR]
    return findings


def _same_public_key(key: PrivateKey, certificate: x509.Certificate) -> bool:
    encoding, layout = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(encoding, layout) == (
        certificate.public_key().public_bytes(encoding, layout)
    )


def errors(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings if f.severity is Severity.ERROR]


def warnings(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings if f.severity is Severity.WARNING]


def serving_refusal(name: str, certificate: CertificateInfo) -> str:
    """Why the identity ``name`` cannot be our listener's TLS certificate ('' when it can): one
    whose extended key usages leave out serverAuth is refused by every peer as a server
    (OpenSSL's "unsupported certificate"), however well the rest is set up."""
    usages = certificate.extended_key_usages
    if not usages or "serverAuth" in usages:
        return ""
    return (
        f"identity {name!r} cannot serve TLS: its certificate ({certificate.subject}) is for "
        f"{', '.join(usages)} only and lacks the serverAuth extended key usage, so every peer "
        'would refuse it as a server ("unsupported certificate"); choose an identity whose '
        "certificate has serverAuth"
    )
