"""A small certificate authority: the demo's CA and identities, and the tests' PKI.

Keys leave this module only as objects, as PKCS#12 or as encrypted PEM: never in the clear.
"""

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from desktop.core.files import write_atomic
from desktop.security.certificates import PrivateKey

DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Issued:
    """A key and its certificate, with the issuers above it up to, not including, the root."""

    key: PrivateKey
    certificate: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)

    def write(self, folder: Path, stem: str, password: str) -> tuple[Path, Path]:
        """``stem.pem`` (certificate then chain) and ``stem.key`` (PKCS#8 encrypted with
        ``password``), both 0600; returns their paths."""
        certificates = b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in [self.certificate, *self.chain]
        )
        key = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode("utf-8")),
        )
        certificate_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
        write_atomic(certificate_path, certificates)
        write_atomic(key_path, key)
        return certificate_path, key_path

    def pkcs12(self, password: str) -> bytes:
        """The key, certificate and chain as a PKCS#12 file under ``password``."""
        return pkcs12.serialize_key_and_certificates(
            None,
            self.key,
            self.certificate,
            self.chain or None,
            serialization.BestAvailableEncryption(password.encode("utf-8")),
        )


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DICOM Courier"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: str,
    key: PrivateKey,
    issuer: x509.Name,
    not_before: dt.datetime,
    lifetime: dt.timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca(
    common_name: str,
    *,
    issuer: Issued | None = None,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    lifetime: dt.timedelta = 3650 * DAY,
    digest: hashes.HashAlgorithm | None = None,
) -> Issued:
    """A root CA (no issuer) or an intermediate CA signed by ``issuer``."""
    key = key or rsa_key()
    start = not_before or dt.datetime.now(dt.UTC) - DAY
    builder = _builder(
        common_name,
        key,
        issuer.certificate.subject if issuer else _name(common_name),
        start,
        lifetime,
    )
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    signer = issuer.key if issuer else key
    certificate = builder.sign(signer, digest or hashes.SHA256())  # type: ignore[arg-type]
    return Issued(key, certificate, _chain_below(issuer) if issuer else [])


def make_leaf(
    common_name: str,
    issuer: Issued,
    *,
    key: PrivateKey | None = None,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    server: bool = True,
    client: bool = True,
    not_before: dt.datetime | None = None,
    lifetime: dt.timedelta = 825 * DAY,
    digest: hashes.HashAlgorithm | None = None,
) -> Issued:
    """An end-entity certificate for hosts ``names`` with serverAuth and/or clientAuth."""
    key = key or rsa_key()
    start = not_before or dt.datetime.now(dt.UTC) - DAY
    builder = _builder(common_name, key, issuer.certificate.subject, start, lifetime)
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    usages = [
        u
        for u, wanted in (
            (ExtendedKeyUsageOID.SERVER_AUTH, server),
            (ExtendedKeyUsageOID.CLIENT_AUTH, client),
        )
        if wanted
    ]
    builder = builder.add_extension(
        x509.ExtendedKeyUsage(usages or [ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    certificate = builder.sign(issuer.key, digest or hashes.SHA256())  # type: ignore[arg-type]
    return Issued(key, certificate, _chain_below(issuer))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _chain_below(issuer: Issued) -> list[x509.Certificate]:
    """What a certificate issued by ``issuer`` is sent with: issuers up to, not with, the root."""
    root = issuer.certificate.issuer == issuer.certificate.subject
    return [] if root else [issuer.certificate, *issuer.chain]
