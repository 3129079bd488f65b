"""The private key of a PKCS#12 file this keystore wrote, opened without holding the GIL long.

cryptography's ``pkcs12.load_key_and_certificates`` re-validates an RSA key on every load
(~0.1-0.2 s for 2,048 bits, GIL held: a GUI thread stops). The keystore validated the key when
it was imported, and the file's MAC (checked here first, RFC 7292 B.2 key derivation and
HMAC-SHA256) proves the file is the one it wrote under this secret, so the shrouded key bag is
decrypted by OpenSSL and loaded without that check. The certificates come from the public
part; the key must match the certificate.

The file is read by a few lines of DER walking, not by asn1crypto or cryptography: a TLS
context takes the still-encrypted key bag (``sealed_key``) and OpenSSL opens it there, so a
TLS command imports neither library before its first byte (~0.07 s).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from desktop.security import der
from desktop.security.der import Element
from desktop.security.errors import CertificateError, PasswordError

if TYPE_CHECKING:
    from cryptography import x509

    from desktop.security.certificates import PrivateKey

MAC_KEY_ID = 3  # RFC 7292 B.3: the derived key is for the MAC
SEQUENCE, OCTET_STRING, INTEGER, OID, EXPLICIT_0 = 0x30, 0x04, 0x02, 0x06, 0xA0
DATA = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1, PKCS#7 data
SHROUDED_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0102")  # 1.2.840.113549.1.12.10.1.2
SHA256 = bytes.fromhex("608648016503040201")  # 2.16.840.1.101.3.4.2.1


def sealed_key(data: bytes, secret: bytes, source: str) -> bytes:
    """The encrypted private key (PKCS#8 EncryptedPrivateKeyInfo, DER) of the PKCS#12 ``data``
    sealed under ``secret``, once the file's MAC proves ``secret`` is its password."""
    try:
        _, auth_safe, mac_data = der.elements(data, der.tlv(data, 0, SEQUENCE))
        signed = _data_content(data, auth_safe)
        if signed is None:
            raise ValueError("its contents are not plain data")
        _check_mac(data, mac_data, signed, secret, source)
        bags = [
            bag
            for content in der.elements(signed, der.tlv(signed, 0, SEQUENCE))
            for bag in _bags(signed, content)
        ]
    except ValueError as error:
        raise CertificateError(f"{source}: not a PKCS#12 file of this keystore: {error}") from error
    if len(bags) != 1:
        raise CertificateError(f"{source}: {len(bags)} private keys, not one")
    return bags[0]


def load_own_key(
    data: bytes, secret: bytes, certificate: x509.Certificate, source: str
) -> PrivateKey:
    """The key of the PKCS#12 ``data`` sealed under ``secret``, which must be ``certificate``'s."""
    from cryptography.hazmat.primitives import serialization

    encrypted = sealed_key(data, secret, source)
    try:
        key = serialization.load_der_private_key(
            encrypted, secret, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as error:
        raise CertificateError(f"{source}: not a PKCS#12 file of this keystore: {error}") from error
    if key.public_key() != certificate.public_key():
        raise CertificateError(f"{source}: the key is not the certificate's")
    return key  # type: ignore[return-value]


def _bags(data: bytes, content: Element) -> list[bytes]:
    """The shrouded key bags (their EncryptedPrivateKeyInfo, DER) of one ContentInfo of the
    authenticated safe: plain data holds them; encrypted data holds the certificates."""
    safe = _data_content(data, content)
    if safe is None:
        return []
    found = []
    for bag in der.elements(safe, der.tlv(safe, 0, SEQUENCE)):
        bag_id, value, *_ = der.elements(safe, bag)
        if der.value(safe, bag_id) == SHROUDED_KEY_BAG:
            key = der.tlv(safe, value.start, SEQUENCE)
            found.append(safe[value.start : key.end])
    return found


def _data_content(data: bytes, content_info: Element) -> bytes | None:
    """The octets of a PKCS#7 ContentInfo of type data (None for another type)."""
    content_type, content = der.elements(data, content_info)
    if der.value(data, content_type) != DATA:
        return None
    return der.value(data, der.tlv(data, der.tlv(data, content.at, EXPLICIT_0).start, OCTET_STRING))


def _check_mac(data: bytes, mac_data: Element, signed: bytes, secret: bytes, source: str) -> None:
    digest_info, salt, *rest = der.elements(data, mac_data)
    algorithm, digest = der.elements(data, digest_info)
    if der.value(data, der.elements(data, algorithm)[0]) != SHA256:
        raise CertificateError(f"{source}: no HMAC-SHA256 over the PKCS#12 contents")
    iterations = int.from_bytes(der.value(data, rest[0]), "big") if rest else 1
    password = secret.decode("ascii").encode("utf-16-be") + b"\x00\x00"  # a BMPString
    key = _pkcs12_kdf(password, der.value(data, salt), iterations, 32)
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, der.value(data, digest)):
        raise PasswordError(f"{source}: wrong password for the PKCS#12 file")


def _pkcs12_kdf(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """RFC 7292 B.2 with SHA-256 (u = 32, v = 64)."""
    u, v = 32, 64
    diversifier = bytes([MAC_KEY_ID]) * v

    def filled(value: bytes) -> bytes:  # copies of value to a whole number of blocks
        size = v * -(-len(value) // v)
        return (value * (size // len(value) + 1))[:size] if value else b""

    block = filled(salt) + filled(password)
    out = b""
    while len(out) < length:
        digest = hashlib.sha256(diversifier + block).digest()
        for _ in range(iterations - 1):
            digest = hashlib.sha256(digest).digest()
        out += digest
        b = int.from_bytes((digest * (v // u + 1))[:v], "big")
        block = b"".join(
            ((int.from_bytes(block[j : j + v], "big") + b + 1) % (1 << (8 * v))).to_bytes(v, "big")
            for j in range(0, len(block), v)
        )
    return out[:length]
