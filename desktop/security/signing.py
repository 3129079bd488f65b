"""Signing a digest with a keystore identity, and judging a DICOM signature's signer.

The digest itself comes from the caller (the DICOM byte stream is the core's business); here
are the private-key operation, the signature check and the signer certificate's trust: a chain
to a trusted CA, validity at signing time, revocation by the CRLs given.
"""

import datetime as dt
import hmac
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa, utils

from desktop.security.certificates import is_ca
from desktop.security.errors import SecurityError
from desktop.security.keystore import UnlockedIdentity

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
    "SHA1": hashes.SHA1,
    "MD5": hashes.MD5,
}
MAX_CHAIN = 8
DIGEST_INFO_PREFIXES = {"RIPEMD160": bytes.fromhex("3021300906052b2403020105000414")}


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WEAK = "weak"
    UNSUPPORTED = "unsupported"


class SigningError(SecurityError):
    """An identity cannot sign DICOM (key type, usage)."""


@dataclass(frozen=True, slots=True)
class Signer:
    """A private key and its certificate, ready to sign MAC digests."""

    identity: UnlockedIdentity

    @property
    def certificate_der(self) -> bytes:
        return self.identity.certificate.public_bytes(serialization.Encoding.DER)

    def sign(self, digest: bytes, algorithm: str) -> bytes:
        """RSASSA-PKCS1-v1_5 or ECDSA (DER) over a precomputed digest."""
        prehashed = utils.Prehashed(HASHES[algorithm]())
        key = self.identity.key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(digest, padding.PKCS1v15(), prehashed)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(prehashed))
        raise SigningError(f"identity {self.identity.name}: DICOM signatures need RSA or ECDSA")


def may_sign(certificate: x509.Certificate) -> bool:
    """No Key Usage, or one with digitalSignature or nonRepudiation."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool(usage.digital_signature or usage.content_commitment)


def signer(identity: UnlockedIdentity, now: dt.datetime) -> Signer:
    """The identity as a signer; refused when its key type or validity cannot sign now."""
    key, certificate = identity.key, identity.certificate
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningError(
            f"identity {identity.name} has a {type(key).__name__.removesuffix('PrivateKey')} key: "
            "DICOM signatures are made with RSA or ECDSA keys"
        )
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SigningError(
            f"identity {identity.name}: its certificate is valid from "
            f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now"
        )
    if not may_sign(certificate):
        raise SigningError(
            f"identity {identity.name}: its certificate's key usage does not allow signatures"
        )
    return Signer(identity)


@dataclass(frozen=True, slots=True)
class Trust:
    """What a signer is judged against: trusted CAs, other known CAs, revocation lists."""

    anchors: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    crls: list[x509.CertificateRevocationList]
    _chains: dict[bytes, list[x509.Certificate] | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def chain(self, certificate: x509.Certificate) -> list[x509.Certificate] | None:
        """The certificate and its issuers up to (not with) a trusted CA; None if there is
        no such path. Remembered per certificate: a study's files share one signer."""
        key = certificate.fingerprint(hashes.SHA256())
        if key not in self._chains:
            self._chains[key] = self._build(certificate)
        return self._chains[key]

    def _build(self, certificate: x509.Certificate) -> list[x509.Certificate] | None:
        chain = [certificate]
        current = certificate
        while not any(_issued_by(current, anchor) for anchor in self.anchors):
            issuer = next(
                (c for c in self.intermediates if _issued_by(current, c) and is_ca(c)), None
            )
            if issuer is None or issuer in chain or len(chain) > MAX_CHAIN:
                return None
            chain.append(issuer)
            current = issuer
        return chain


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: str


def load_certificate(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(_der_only(der))
    except ValueError:
        return None


def signature_matches(
    certificate: x509.Certificate, signature: bytes, digest: bytes, algorithm: str
) -> Judgement | None:
    """None if ``signature`` is the certificate key's signature of ``digest``, else why not."""
    key = certificate.public_key()
    if algorithm not in HASHES:
        return _without_hash_class(key, signature, digest, algorithm)
    prehashed = utils.Prehashed(HASHES[algorithm]())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(_der_only(signature), digest, ec.ECDSA(prehashed))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(_der_only(signature), digest, prehashed)
        else:
            return Judgement(Verdict.UNSUPPORTED, f"a {type(key).__name__} key cannot be checked")
        return None
    except InvalidSignature:
        return Judgement(Verdict.INVALID, _why_invalid(key, signature, digest))
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        return Judgement(Verdict.UNSUPPORTED, f"{algorithm} with this key: {error}")


def _without_hash_class(
    key: object, signature: bytes, digest: bytes, algorithm: str
) -> Judgement | None:
    """RIPEMD-160 (dcmsign's default, which cryptography has no class for): RSA only, by
    comparing the DigestInfo the signature holds."""
    prefix = DIGEST_INFO_PREFIXES.get(algorithm)
    if prefix is None or not isinstance(key, rsa.RSAPublicKey):
        return Judgement(Verdict.UNSUPPORTED, f"{algorithm} signatures cannot be checked here")
    try:
        signed = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except InvalidSignature:
        signed = b""
    if hmac.compare_digest(signed, prefix + digest):
        return None
    return Judgement(Verdict.INVALID, _why_invalid(key, signature, digest))


def _why_invalid(key: object, signature: bytes, digest: bytes) -> str:
    """RSA tells the digest that was signed: then the data changed, else the signature did."""
    if isinstance(key, rsa.RSAPublicKey):
        try:
            signed = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
        except InvalidSignature:
            return (
                "the signature value does not belong to the signer's certificate "
                "(the Signature or the Certificate of Signer was replaced or damaged)"
            )
        if not signed.endswith(digest):
            return "the signed data changed after signing"
    return "the signed data or the signature changed after signing"


def _der_only(signature: bytes) -> bytes:
    """A DER value without the padding byte DICOM adds for even length."""
    if len(signature) > 2 and signature[0] == 0x30:
        if signature[1] < 0x80:
            return signature[: 2 + signature[1]]
        size = signature[1] & 0x7F
        length = int.from_bytes(signature[2 : 2 + size], "big")
        return signature[: 2 + size + length]
    return signature


def judge_signer(certificate: x509.Certificate, signed_at: dt.datetime, trust: Trust) -> Judgement:
    """Chain to a trusted CA, validity at ``signed_at``, revocation; the first failure found."""
    chain = trust.chain(certificate)
    if chain is None:
        return Judgement(
            Verdict.UNTRUSTED,
            "no chain from the signer certificate (issuer "
            f"{certificate.issuer.rfc4514_string()}) to a trusted CA of the keystore "
            "(import the issuing CA with 'keystore import-ca')",
        )
    if not may_sign(certificate):
        return Judgement(
            Verdict.UNTRUSTED, "the signer certificate's key usage does not allow signatures"
        )
    for member in chain:
        if not member.not_valid_before_utc <= signed_at <= member.not_valid_after_utc:
            return Judgement(
                Verdict.EXPIRED,
                f"{member.subject.rfc4514_string()} was not valid at signing time "
                f"{signed_at:%Y-%m-%d %H:%M:%S} UTC (valid "
                f"{member.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                f"{member.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)",
            )
    reason = revocation(chain, trust)
    return Judgement(Verdict.REVOKED, reason) if reason else Judgement(Verdict.VALID, "")


def revocation(chain: list[x509.Certificate], trust: Trust) -> str:
    """Which certificate of ``chain`` (a certificate, then its issuers) a CRL of ``trust``
    signed by its issuer revokes, and since when; '' when none is."""
    issuers = [*chain[1:], *trust.anchors, *trust.intermediates]
    for member in chain:
        for crl in trust.crls:
            entry = crl.get_revoked_certificate_by_serial_number(member.serial_number)
            if entry is None or crl.issuer != member.issuer:
                continue
            if any(_signed_crl(crl, i) for i in issuers if i.subject == crl.issuer):
                return (
                    f"{member.subject.rfc4514_string()} was revoked on "
                    f"{entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC"
                )
    return ""


def _signed_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | dsa.DSAPublicKey):
        return False
    return crl.is_signature_valid(key)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
