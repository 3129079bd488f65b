"""Reading certificates and keys in every format hospitals hand out, and describing them."""

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from desktop.security.certificate_facts import KEY_USAGES
from desktop.security.certificate_facts import CertificateInfo as CertificateInfo
from desktop.security.errors import CertificateError, PasswordError

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | (ed448.Ed448PrivateKey | dsa.DSAPrivateKey)
)
PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
PEM_PKCS7 = b"-----BEGIN PKCS7-----"


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def issuer_of(pem: str) -> str:
    """The issuer of a PEM certificate, as RFC 4514 writes a name."""
    return x509.load_pem_x509_certificate(pem.encode("ascii")).issuer.rfc4514_string()


def describe(certificate: x509.Certificate) -> CertificateInfo:
    """The facts about ``certificate`` that the keystore and the handshake log show."""
    key = certificate.public_key()
    key_type, key_bits = _key_kind(key)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    hash_algorithm = certificate.signature_hash_algorithm
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial=f"{certificate.serial_number:X}",
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        fingerprint=fingerprint(certificate),
        subject_alt_names=subject_alt_names(certificate),
        key_type=key_type,
        key_bits=key_bits,
        key_usages=_key_usages(certificate),
        extended_key_usages=_extended_key_usages(certificate),
        is_ca=is_ca(certificate),
        signature_hash=hash_algorithm.name if hash_algorithm else "none",
        common_name=str(names[0].value) if names else "",
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def subject_alt_names(certificate: x509.Certificate) -> list[str]:
    """The SANs as 'DNS:name' and 'IP:address' strings."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = [f"DNS:{n}" for n in extension.value.get_values_for_type(x509.DNSName)]
    names += [f"IP:{a}" for a in extension.value.get_values_for_type(x509.IPAddress)]
    return names


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def extended_key_usage(certificate: x509.Certificate) -> set[x509.ObjectIdentifier] | None:
    """The extended key usages, or None when the certificate does not restrict them."""
    try:
        return set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def _extended_key_usages(certificate: x509.Certificate) -> list[str]:
    names = {
        ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
        ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    }
    usages = extended_key_usage(certificate)
    return sorted(names.get(u, u.dotted_string) for u in usages) if usages is not None else []


def _key_usages(certificate: x509.Certificate) -> list[str]:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [flag for flag in KEY_USAGES if getattr(usage, flag)]


def _key_kind(key: Any) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 448
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


def load_certificates(data: bytes, source: str) -> list[x509.Certificate]:
    """Every certificate in PEM (one or a bundle), DER or PKCS#7 (PEM or DER) data."""
    try:
        if PEM_PKCS7 in data:
            return list(pkcs7.load_pem_pkcs7_certificates(data))
        if PEM_CERTIFICATE in data:
            return list(x509.load_pem_x509_certificates(data))
    except ValueError as error:
        raise CertificateError(f"{source}: a damaged certificate: {error}") from error
    for loader in (x509.load_der_x509_certificate, pkcs7.load_der_pkcs7_certificates):
        try:
            loaded = loader(data)
        except ValueError:
            continue
        return list(loaded) if isinstance(loaded, list) else [loaded]
    raise CertificateError(
        f"{source}: no certificate found (expected PEM, DER or PKCS#7 .p7b); "
        "is it a key or another kind of file?"
    )


def load_private_key(data: bytes, password: bytes | None, source: str) -> PrivateKey:
    """A private key from PEM or DER (PKCS#8, PKCS#1 or SEC1), encrypted or not."""
    loaders = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:
        key = loaders(data, password=password)
    except TypeError as error:
        if password is None:
            raise PasswordError(f"{source}: the key is encrypted: give its password") from error
        raise PasswordError(
            f"{source}: the key is not encrypted, but a password was given"
        ) from error
    except ValueError as error:
        if password is not None and b"ENCRYPTED" in data:
            raise PasswordError(f"{source}: wrong password for the key") from error
        raise CertificateError(f"{source} holds no private key (PEM or DER)") from error
    return key  # type: ignore[return-value]


def load_pkcs12(
    data: bytes, password: bytes | None, source: str
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """Key, certificate and chain of a PKCS#12 (.p12/.pfx) file."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, password)
    except ValueError as error:
        text = str(error).lower()
        if "password" in text or "mac" in text or "decrypt" in text:
            raise PasswordError(f"{source}: wrong password for the PKCS#12 file") from error
        raise CertificateError(
            f"{source} is not a PKCS#12 file (.p12/.pfx): give the certificate's PEM file with "
            "its key (--key FILE), or the PKCS#12 file"
        ) from error
    if key is None or certificate is None:
        raise CertificateError(f"{source}: the PKCS#12 file holds no key and certificate pair")
    return key, certificate, list(chain)  # type: ignore[return-value]
