"""The private key of a PKCS#12 file this keystore wrote, opened without holding the GIL long.

cryptography's ``pkcs12.load_key_and_certificates`` re-validates an RSA key on every load
(~0.1-0.2 s for 2,048 bits, GIL held: a GUI thread stops). The keystore validated the key when
it was imported, and the file's MAC (checked here first, RFC 7292 B.2 key derivation and
HMAC-SHA256) proves the file is the one it wrote under this secret, so the shrouded key bag is
decrypted by OpenSSL and loaded without that check. The certificates come from the public
part; the key must match the certificate.
"""

import hashlib
import hmac

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from desktop.security.certificates import PrivateKey
from desktop.security.errors import CertificateError, PasswordError

MAC_KEY_ID = 3  # RFC 7292 B.3: the derived key is for the MAC


def load_own_key(
    data: bytes, secret: bytes, certificate: x509.Certificate, source: str
) -> PrivateKey:
    """The key of the PKCS#12 ``data`` sealed under ``secret``, which must be ``certificate``'s."""
    try:
        pfx = asn1_pkcs12.Pfx.load(data)
        _check_mac(pfx, secret, source)
        bags = [
            bag
            for content in pfx.authenticated_safe
            if content["content_type"].native == "data"
            for bag in asn1_pkcs12.SafeContents.load(content["content"].native)
            if bag["bag_id"].native == "pkcs8_shrouded_key_bag"
        ]
        if len(bags) != 1:
            raise CertificateError(f"{source}: {len(bags)} private keys, not one")
        key = serialization.load_der_private_key(
            bags[0]["bag_value"].untag().dump(), secret, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, KeyError) as error:
        raise CertificateError(f"{source}: not a PKCS#12 file of this keystore: {error}") from error
    if key.public_key() != certificate.public_key():
        raise CertificateError(f"{source}: the key is not the certificate's")
    return key  # type: ignore[return-value]


def _check_mac(pfx: asn1_pkcs12.Pfx, secret: bytes, source: str) -> None:
    mac_data = pfx["mac_data"]
    if mac_data.native is None or mac_data["mac"]["digest_algorithm"]["algorithm"].native != (
        "sha256"
    ):
        raise CertificateError(f"{source}: no HMAC-SHA256 over the PKCS#12 contents")
    password = secret.decode("ascii").encode("utf-16-be") + b"\x00\x00"  # a BMPString
    key = _pkcs12_kdf(password, mac_data["mac_salt"].native, mac_data["iterations"].native, 32)
    signed = pfx["auth_safe"]["content"].native
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac_data["mac"]["digest"].native):
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
