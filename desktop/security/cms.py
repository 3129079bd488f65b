"""CMS (RFC 5652) envelopes for secure DICOM files (PS3.10 §7.4, PS3.15 Annex D).

``cryptography``'s PKCS7EnvelopeBuilder fixes the encrypted content type to ``data``, while a
secure DICOM file's EnvelopedData holds SignedData or DigestedData; so the DER is written here
(small parts by ``asn1crypto``, which also parses) around ``cryptography``'s primitives:
AES-256-CBC content encryption, RSA key transport (RSAES-OAEP with SHA-256 when sealing; OAEP
or PKCS#1 v1.5 when opening), the signature made by ``cryptography``'s PKCS7SignatureBuilder.
Opening also accepts what ``openssl cms -sign | openssl cms -encrypt`` makes: the SignedData as
a ContentInfo inside ``data``. ECDH key agreement is not implemented: an EC recipient is
refused in plain words.
"""

import datetime as dt
import functools
import hmac
import os
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import pkcs7

from desktop.security.errors import SecurityError
from desktop.security.keystore import UnlockedIdentity
from desktop.security.signing import Judgement, Trust, Verdict, judge_signer, signature_matches

#: Digests accepted inside a sealed file (the names DICOM and desktop.security.signing use).
DIGESTS: dict[str, str] = {"sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}
INTEGER, OCTET_STRING, SEQUENCE, SET, EXPLICIT_0, IMPLICIT_0 = 0x02, 0x04, 0x30, 0x31, 0xA0, 0x80
VERSION_0 = b"\x02\x01\x00"
CIPHERS = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}


class SealError(SecurityError):
    """A file cannot be sealed or opened: the reason in plain words."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """A certificate a file is sealed for, by its issuer (DER) and serial number."""

    issuer: bytes
    serial: int

    def holds(self, certificate: x509.Certificate) -> bool:
        """Whether ``certificate`` is this recipient's."""
        return self.issuer == certificate.issuer.public_bytes() and (
            self.serial == certificate.serial_number
        )


class NotRecipientError(SealError):
    """A file sealed for other certificates than the identity's (``recipients`` names them)."""

    def __init__(self, message: str, recipients: tuple[Recipient, ...]) -> None:
        super().__init__(message)
        self.recipients = recipients


@dataclass(frozen=True, slots=True)
class Opened:
    """What a sealed file held and how its inner protection was checked."""

    content: bytes
    protection: str  # "signed" or "digested"
    signer: str  # the signer's subject, "" for a digest
    judgement: Judgement


def seal(content: bytes, recipient: x509.Certificate, signer: UnlockedIdentity | None) -> bytes:
    """A DER ContentInfo: EnvelopedData for ``recipient`` around SignedData by ``signer``
    (its chain included) or, without a signer, DigestedData (SHA-256) of ``content``."""
    inner_type, inner = _signed(content, signer) if signer else _digested(content)
    return _envelope(inner_type, inner, recipient)


def envelope(content: bytes, recipient: x509.Certificate) -> bytes:
    """A DER ContentInfo: EnvelopedData of plain ``data`` for ``recipient`` (AES-256)."""
    return _envelope("data", content, recipient)


def _envelope(inner_type: str, inner: bytes, recipient: x509.Certificate) -> bytes:
    key, iv = os.urandom(32), os.urandom(16)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    padder = padding.PKCS7(128).padder()
    encrypted = encryptor.update(padder.update(inner) + padder.finalize()) + encryptor.finalize()
    # Assembled by hand around asn1crypto's small parts: asn1crypto copies a large value
    # once per nesting level and field, several times slower than the AES itself.
    algorithm = algos.EncryptionAlgorithm({"algorithm": "aes256_cbc", "parameters": iv})
    enveloped = _tlv(
        SEQUENCE,
        VERSION_0,
        _tlv(SET, _recipient_info(recipient, key)),
        _tlv(
            SEQUENCE,
            cms.ContentType(inner_type).dump(),
            algorithm.dump(),
            _tlv(IMPLICIT_0, encrypted),
        ),
    )
    return _content_info("enveloped_data", enveloped)


def _content_info(content_type: str, content: bytes) -> bytes:
    return _tlv(SEQUENCE, cms.ContentType(content_type).dump(), _tlv(EXPLICIT_0, content))


def _tlv(tag: int, *parts: bytes) -> bytes:
    """A DER tag-length-value."""
    body = b"".join(parts)
    if len(body) < 0x80:
        return bytes((tag, len(body))) + body
    octets = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + body


def _recipient_info(recipient: x509.Certificate, key: bytes) -> bytes:
    """A KeyTransRecipientInfo (v0, issuer and serial number) carrying ``key``."""
    now = dt.datetime.now(dt.UTC)
    if not recipient.not_valid_before_utc <= now <= recipient.not_valid_after_utc:
        raise SealError(
            f"the recipient certificate {recipient.subject.rfc4514_string()} is valid from "
            f"{recipient.not_valid_before_utc:%Y-%m-%d} to "
            f"{recipient.not_valid_after_utc:%Y-%m-%d}, not now: ask the recipient for a "
            "current one"
        )
    public = recipient.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise SealError(
            f"the recipient certificate {recipient.subject.rfc4514_string()} has no RSA key: "
            "sealing needs an RSA certificate (ECDH key agreement is not supported)"
        )
    oaep = asymmetric.OAEP(asymmetric.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    serial = recipient.serial_number
    issuer_and_serial = _tlv(
        SEQUENCE,
        recipient.issuer.public_bytes(),
        _tlv(INTEGER, serial.to_bytes(serial.bit_length() // 8 + 1, "big")),
    )
    return _tlv(
        SEQUENCE,
        VERSION_0,
        issuer_and_serial,
        _oaep_sha256(),
        _tlv(OCTET_STRING, public.encrypt(key, oaep)),
    )


@functools.cache
def _oaep_sha256() -> bytes:
    """The key encryption AlgorithmIdentifier: RSAES-OAEP with SHA-256 and MGF1-SHA-256."""
    sha256 = {"algorithm": "sha256"}
    parameters = {
        "hash_algorithm": sha256,
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": sha256},
    }
    identifier = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": parameters})
    return bytes(identifier.dump())


def _signed(content: bytes, identity: UnlockedIdentity) -> tuple[str, bytes]:
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content)
    builder = builder.add_signer(identity.certificate, identity.key, hashes.SHA256())  # type: ignore[arg-type]
    for certificate in identity.chain:
        builder = builder.add_certificate(certificate)
    der = builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return "signed_data", bytes(cms.ContentInfo.load(der)["content"].untag().dump())


def _digested(content: bytes) -> tuple[str, bytes]:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(content)
    digested = _tlv(
        SEQUENCE,
        VERSION_0,
        algos.DigestAlgorithm({"algorithm": "sha256"}).dump(),
        _content_info("data", _tlv(OCTET_STRING, content)),
        _tlv(OCTET_STRING, digest.finalize()),
    )
    return "digested_data", digested


def open_sealed(sealed: bytes, identity: UnlockedIdentity, trust: Trust) -> Opened:
    """Decrypt with ``identity`` and check the inner signature (against ``trust``) or digest.

    Raises SealError when the file is not sealed, not for this identity, damaged or tampered
    with; an untrusted signer is not raised but judged in ``Opened.judgement``.
    """
    try:
        return _unwrap(*_open(sealed, identity), trust)
    except (ValueError, TypeError, KeyError) as error:
        raise SealError(
            f"damaged or tampered with: its CMS structure is broken ({error})"
        ) from None


def open_envelope(enveloped: bytes, identity: UnlockedIdentity) -> bytes:
    """The plain data of an EnvelopedData, decrypted with ``identity``.

    Raises SealError when it is not for this identity, damaged, or holds other than data.
    """
    try:
        inner_type, plain = _open(enveloped, identity)
    except (ValueError, TypeError, KeyError) as error:
        raise SealError(f"damaged: its CMS structure is broken ({error})") from None
    if inner_type != "data":
        raise SealError(f"it holds {inner_type.replace('_', ' ')}, not plain data")
    return plain


def _open(der: bytes, identity: UnlockedIdentity) -> tuple[str, bytes]:
    """The encrypted content's type and its decrypted bytes."""
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "enveloped_data":
        raise SealError(
            f"not encrypted for a recipient: its CMS content is {info['content_type'].native}"
        )
    enveloped = info["content"]
    return enveloped["encrypted_content_info"]["content_type"].native, _decrypt(enveloped, identity)


def _decrypt(enveloped: Any, identity: UnlockedIdentity) -> bytes:
    key = _content_key(enveloped["recipient_infos"], identity)
    content_info = enveloped["encrypted_content_info"]
    algorithm = content_info["content_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if CIPHERS.get(name) != len(key):
        raise SealError(f"its content is encrypted with {name}: only AES-CBC is supported")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(algorithm["parameters"].native)).decryptor()
    padded = decryptor.update(content_info["encrypted_content"].native) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return bytes(unpadder.update(padded) + unpadder.finalize())
    except ValueError:
        raise SealError("tampered with or damaged: the decrypted content is invalid") from None


def _content_key(recipients: Any, identity: UnlockedIdentity) -> bytes:
    certificate = identity.certificate
    sealed_for = []
    named = []
    for recipient in recipients:
        if recipient.name != "ktri":
            sealed_for.append(f"a {recipient.name} recipient (not supported)")
            continue
        info = recipient.chosen
        rid = info["rid"]
        if rid.name == "issuer_and_serial_number":
            issuer, serial = rid.chosen["issuer"], rid.chosen["serial_number"].native
            recipient_id = Recipient(issuer.dump(), serial)
            if recipient_id.holds(certificate):
                return _unwrap_key(info, identity)
            named.append(recipient_id)
            sealed_for.append(
                f"the certificate with serial {serial:X} issued by {_common_name(issuer)}"
            )
        else:
            if rid.chosen.native == _key_identifier(certificate):
                return _unwrap_key(info, identity)
            sealed_for.append(
                f"the certificate with subject key identifier {rid.chosen.native.hex()}"
            )
    raise NotRecipientError(
        f"not sealed for identity {identity.name} "
        f"({certificate.subject.rfc4514_string()}): it is sealed for " + "; ".join(sealed_for),
        tuple(named),
    )


def _common_name(name: Any) -> str:
    """An issuer named by its common name (the whole name when it has none)."""
    common = name.native.get("common_name") if isinstance(name.native, dict) else None
    return str(common) if common else str(name.human_friendly)


def _key_identifier(certificate: x509.Certificate) -> bytes | None:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return extension.value.digest


def _unwrap_key(info: Any, identity: UnlockedIdentity) -> bytes:
    key = identity.key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealError(f"identity {identity.name} has no RSA key to open the file")
    algorithm = info["key_encryption_algorithm"]
    scheme: asymmetric.AsymmetricPadding
    if algorithm["algorithm"].native == "rsaes_oaep":
        parameters = algorithm["parameters"]
        digest = _hash(parameters["hash_algorithm"]["algorithm"].native, in_oaep=True)
        mask = _hash(
            parameters["mask_gen_algorithm"]["parameters"]["algorithm"].native, in_oaep=True
        )
        scheme = asymmetric.OAEP(asymmetric.MGF1(mask), digest, None)
    else:
        scheme = asymmetric.PKCS1v15()
    try:
        return bytes(key.decrypt(info["encrypted_key"].native, scheme))
    except ValueError:
        raise SealError("tampered with or damaged: its content key does not decrypt") from None


def _hash(name: str, *, in_oaep: bool = False) -> hashes.HashAlgorithm:
    if name == "sha1" and in_oaep:  # OAEP's default parameters: no collision risk there
        return hashes.SHA1()
    if name not in DIGESTS:
        raise SealError(f"it uses the {name} hash, which is weak or unknown: not accepted")
    return getattr(hashes, DIGESTS[name])()  # type: ignore[no-any-return]


def _unwrap(inner_type: str, plain: bytes, trust: Trust) -> Opened:
    if inner_type == "data":  # openssl cms -encrypt: a ContentInfo inside plain data
        try:
            nested = cms.ContentInfo.load(plain, strict=True)
            inner_type, plain = nested["content_type"].native, nested["content"].untag().dump()
        except (ValueError, TypeError):
            inner_type = "plain data"
    if inner_type == "signed_data":
        return _check_signed(cms.SignedData.load(plain, strict=True), trust)
    if inner_type == "digested_data":
        return _check_digested(cms.DigestedData.load(plain, strict=True))
    raise SealError(
        f"it holds {inner_type.replace('_', ' ')} with neither a signature nor a digest "
        "(a secure DICOM file holds SignedData or DigestedData)"
    )


def _digest(name: str, data: bytes) -> bytes:
    digest = hashes.Hash(_hash(name))
    digest.update(data)
    return digest.finalize()


def _check_digested(digested: Any) -> Opened:
    content = _content(digested["encap_content_info"])
    expected = digested["digest"].native
    if not hmac.compare_digest(
        _digest(digested["digest_algorithm"]["algorithm"].native, content), expected
    ):
        raise SealError("tampered with: the content does not match its digest")
    return Opened(content, "digested", "", Judgement(Verdict.VALID, ""))


def _content(encapsulated: Any) -> bytes:
    content = encapsulated["content"].native
    if content is None:
        raise SealError("its content is detached, not inside the file")
    if encapsulated["content_type"].native != "data" or not isinstance(content, bytes):
        raise SealError("its signed or digested content is not plain data")
    return content


def _check_signed(signed: Any, trust: Trust) -> Opened:
    content = _content(signed["encap_content_info"])
    certificates = [
        x509.load_der_x509_certificate(c.chosen.dump())
        for c in signed["certificates"] or []
        if c.name == "certificate"
    ]
    infos = list(signed["signer_infos"])
    if len(infos) != 1:
        raise SealError(f"it has {len(infos)} signers: exactly one is expected")
    info = infos[0]
    certificate = _signer_certificate(info["sid"], certificates)
    algorithm = info["digest_algorithm"]["algorithm"].native
    digest = _digest(algorithm, content)
    signed_at = dt.datetime.now(dt.UTC)
    attributes = info["signed_attrs"]
    if attributes.native is not None and len(attributes):
        values = {a["type"].native: a["values"][0] for a in attributes}
        if not hmac.compare_digest(values["message_digest"].native, digest):
            raise SealError("tampered with: the content does not match its signed digest")
        if values["content_type"].native != "data":
            raise SealError("tampered with: its signed content type is not data")
        if "signing_time" in values:
            signed_at = values["signing_time"].native
        digest = _digest(algorithm, b"\x31" + attributes.dump()[1:])  # signed as a SET OF
    kind = info["signature_algorithm"].signature_algo
    if kind not in ("rsassa_pkcs1v15", "ecdsa"):
        raise SealError(f"its signature is {kind}: only RSA PKCS#1 v1.5 and ECDSA are checked")
    failed = signature_matches(certificate, info["signature"].native, digest, DIGESTS[algorithm])
    if failed is not None:
        raise SealError(f"tampered with: {failed.reason}")
    extended = Trust(trust.anchors, trust.intermediates + certificates, trust.crls)
    judgement = judge_signer(certificate, signed_at, extended)
    return Opened(content, "signed", certificate.subject.rfc4514_string(), judgement)


def _signer_certificate(sid: Any, certificates: list[x509.Certificate]) -> x509.Certificate:
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            if (
                sid.chosen["issuer"].dump() == certificate.issuer.public_bytes()
                and sid.chosen["serial_number"].native == certificate.serial_number
            ):
                return certificate
        elif sid.chosen.native == _key_identifier(certificate):
            return certificate
    raise SealError(
        "its signer's certificate is not in the file, so the signature cannot be checked"
    )
