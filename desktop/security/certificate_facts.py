"""What a person checks about a certificate, and the facts read from its DER without
cryptography: a TLS connection's success path describes the peer's chain with hashlib and a
few lines of DER walking (importing ``cryptography.x509`` alone took ~0.1 s, GIL held, beside a
send).

``read`` gives exactly what ``certificates.describe`` gives for the certificates hospitals and
their CAs use (RSA, EC on the usual curves, Ed25519/Ed448; RSA PKCS#1 v1.5 or ECDSA signatures;
UTF-8, printable, BMP and universal strings in names) and None for anything else, which the
caller then describes with cryptography.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from desktop.security import der

MIN_RSA_BITS = 2048
STRONG_HASHES = frozenset({"sha256", "sha384", "sha512"})

SEQUENCE, SET, INTEGER, OID, BIT_STRING, OCTET_STRING, BOOLEAN = (
    0x30,
    0x31,
    0x02,
    0x06,
    0x03,
    0x04,
    0x01,
)
UTC_TIME, GENERALIZED_TIME, BMP_STRING, UNIVERSAL_STRING = 0x17, 0x18, 0x1E, 0x1C
VERSION, EXTENSIONS = 0xA0, 0xA3
DNS_NAME, IP_ADDRESS = 0x82, 0x87  # GeneralName [2] and [7], implicit

#: cryptography's short names in RFC 4514 strings; other attributes by their dotted OID
NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
SIGNATURE_HASHES = {
    "1.2.840.113549.1.1.4": "md5",
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    "1.3.101.112": "none",  # Ed25519 and Ed448 sign without a separate hash
    "1.3.101.113": "none",
}
RSA, EC = "1.2.840.113549.1.1.1", "1.2.840.10045.2.1"
EDWARDS = {"1.3.101.112": ("Ed25519", 256), "1.3.101.113": ("Ed448", 448)}
CURVES = {
    "1.2.840.10045.3.1.1": ("secp192r1", 192),
    "1.3.132.0.33": ("secp224r1", 224),
    "1.2.840.10045.3.1.7": ("secp256r1", 256),
    "1.3.132.0.34": ("secp384r1", 384),
    "1.3.132.0.35": ("secp521r1", 521),
    "1.3.132.0.10": ("secp256k1", 256),
}
SUBJECT_ALT_NAME, KEY_USAGE, EXTENDED_KEY_USAGE, BASIC_CONSTRAINTS = (
    "2.5.29.17",
    "2.5.29.15",
    "2.5.29.37",
    "2.5.29.19",
)
KEY_USAGES = (  # KeyUsage's bits 0-6, as cryptography names them
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
USAGE_NAMES = {"1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth"}


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What a person checks about a certificate."""

    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint: str  # SHA-256, hex with colons
    subject_alt_names: list[str]
    key_type: str
    key_bits: int
    key_usages: list[str]
    extended_key_usages: list[str]
    is_ca: bool
    signature_hash: str
    common_name: str = ""
    pem: str = field(default="", repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "fingerprint_sha256": self.fingerprint,
            "subject_alt_names": self.subject_alt_names,
            "key": f"{self.key_type} {self.key_bits}",
            "key_usages": self.key_usages,
            "extended_key_usages": self.extended_key_usages,
            "is_ca": self.is_ca,
            "signature_hash": self.signature_hash,
        }


class UnusualError(ValueError):
    """Something this reader leaves to cryptography."""


def read(certificate: bytes) -> CertificateInfo | None:
    """The facts of a DER certificate, or None when it uses what only cryptography reads
    (or is malformed: cryptography then says how)."""
    try:
        return _read(certificate)
    except (ValueError, IndexError):  # UnusualError among them
        return None


def peer_weaknesses(chain: list[CertificateInfo]) -> list[str]:
    """Why a peer's chain breaks PS3.15 B.13 (RSA keys of 2048+ bits, SHA-2 signatures)."""
    problems = []
    for info in chain:
        if info.key_type == "RSA" and info.key_bits < MIN_RSA_BITS:
            problems.append(
                f"{info.subject} has a {info.key_bits}-bit RSA key "
                f"(the profile needs {MIN_RSA_BITS})"
            )
        if info.subject != info.issuer and info.signature_hash not in STRONG_HASHES:
            problems.append(
                f"{info.subject} is signed with {info.signature_hash.upper()} "
                "(the profile needs SHA-256 or better)"
            )
    return problems


def _read(data: bytes) -> CertificateInfo:
    whole = der.tlv(data, 0, SEQUENCE)
    if whole.end != len(data):
        raise UnusualError("bytes after the certificate")
    tbs, algorithm, _signature = der.elements(data, whole)
    fields = der.elements(data, tbs)
    if fields and data[fields[0].at] == VERSION:
        fields = fields[1:]
    serial, _, issuer_name, validity, subject_name, key_info, *rest = fields
    if data[serial.at] != INTEGER or data[key_info.at] != SEQUENCE:
        raise UnusualError("not an X.509 certificate")
    hashed = SIGNATURE_HASHES.get(_oid(data, der.elements(data, algorithm)[0]))
    if hashed is None:
        raise UnusualError("a signature algorithm left to cryptography")
    not_before, not_after = (_time(data, e) for e in der.elements(data, validity))
    subject, common_name = _name(data, subject_name)
    extensions = _extensions(data, rest[-1]) if rest and data[rest[-1].at] == EXTENSIONS else {}
    key_type, key_bits = _key(data, key_info)
    return CertificateInfo(
        subject=subject,
        issuer=_name(data, issuer_name)[0],
        serial=f"{int.from_bytes(der.value(data, serial), 'big', signed=True):X}",
        not_before=not_before,
        not_after=not_after,
        fingerprint=hashlib.sha256(data).digest().hex(":").upper(),
        subject_alt_names=_alt_names(extensions.get(SUBJECT_ALT_NAME)),
        key_type=key_type,
        key_bits=key_bits,
        key_usages=_key_usages(extensions.get(KEY_USAGE)),
        extended_key_usages=_extended_key_usages(extensions.get(EXTENDED_KEY_USAGE)),
        is_ca=_is_ca(extensions.get(BASIC_CONSTRAINTS)),
        signature_hash=hashed,
        common_name=common_name,
        pem=_pem(data),
    )


def _oid(data: bytes, element: der.Element) -> str:
    if data[element.at] != OID:
        raise UnusualError("an object identifier expected")
    return der.dotted(der.value(data, element))


def _name(data: bytes, name: der.Element) -> tuple[str, str]:
    """A Name as cryptography's ``rfc4514_string`` writes it, and its first common name."""
    written, common_name = [], None
    for rdn in der.elements(data, name):
        if data[rdn.at] != SET:
            raise UnusualError("a name's part is not a set")
        parts = []
        for attribute in der.elements(data, rdn):
            kind, text = der.elements(data, attribute)
            oid, string = _oid(data, kind), _string(data, text)
            if oid == "2.5.4.3" and common_name is None:
                common_name = string
            parts.append(f"{NAMES.get(oid, oid)}={_escaped(string)}")
        written.append("+".join(parts))
    return ",".join(reversed(written)), common_name or ""


def _string(data: bytes, element: der.Element) -> str:
    raw, tag = der.value(data, element), data[element.at]
    if tag == BMP_STRING:
        return raw.decode("utf-16-be")
    if tag == UNIVERSAL_STRING:
        return raw.decode("utf-32-be")
    if tag == BIT_STRING or tag & 0x20:
        raise UnusualError("a name's value that is not a string")
    return raw.decode("utf-8")  # cryptography reads every other string type so


def _escaped(text: str) -> str:
    """RFC 4514 escaping, as cryptography does it."""
    if not text:
        return ""
    for special in ("\\", '"', "+", ",", ";", "<", ">"):
        text = text.replace(special, "\\" + special)
    text = text.replace("\0", "\\00")
    if text[0] == "#" or (text[0] == " " and len(text) > 1):
        text = "\\" + text
    if text[-1] == " ":
        text = text[:-1] + "\\ "
    return text


def _time(data: bytes, element: der.Element) -> dt.datetime:
    text = der.value(data, element).decode("ascii")
    tag = data[element.at]
    if tag == UTC_TIME and len(text) == 13 and text.endswith("Z") and text[:12].isdigit():
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif not (
        tag == GENERALIZED_TIME and len(text) == 15 and text.endswith("Z") and text[:14].isdigit()
    ):
        raise UnusualError("a time left to cryptography")
    year, month, day, hour, minute, second = (
        int(text[i : i + 2]) if i else int(text[:4]) for i in (0, 4, 6, 8, 10, 12)
    )
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def _key(data: bytes, key_info: der.Element) -> tuple[str, int]:
    algorithm, bits = der.elements(data, key_info)
    kind, *parameters = der.elements(data, algorithm)
    oid = _oid(data, kind)
    if oid in EDWARDS:
        return EDWARDS[oid]
    if oid == EC and parameters:
        curve = CURVES.get(_oid(data, parameters[0]))
        if curve is None:
            raise UnusualError("a curve left to cryptography")
        return f"EC {curve[0]}", curve[1]
    if oid == RSA and data[bits.at] == BIT_STRING and data[bits.start] == 0:
        public = der.tlv(data, bits.start + 1, SEQUENCE)
        modulus = der.elements(data, public)[0]
        return "RSA", int.from_bytes(der.value(data, modulus), "big").bit_length()
    raise UnusualError("a key type left to cryptography")


def _extensions(data: bytes, wrapper: der.Element) -> dict[str, bytes]:
    """The extensions' values by object identifier (cryptography refuses duplicates)."""
    found: dict[str, bytes] = {}
    for extension in der.elements(data, der.tlv(data, wrapper.start, SEQUENCE)):
        kind, *_, content = der.elements(data, extension)
        oid = _oid(data, kind)
        if oid in found or data[content.at] != OCTET_STRING:
            raise UnusualError("a duplicate or malformed extension")
        found[oid] = der.value(data, content)
    return found


def _alt_names(extension: bytes | None) -> list[str]:
    if extension is None:
        return []
    names = der.elements(extension, der.tlv(extension, 0, SEQUENCE))
    dns = [
        f"DNS:{der.value(extension, n).decode('ascii')}"
        for n in names
        if extension[n.at] == DNS_NAME
    ]
    ips = [
        f"IP:{ipaddress.ip_address(der.value(extension, n))}"
        for n in names
        if extension[n.at] == IP_ADDRESS
    ]
    return dns + ips


def _key_usages(extension: bytes | None) -> list[str]:
    if extension is None:
        return []
    bits = der.value(extension, der.tlv(extension, 0, BIT_STRING))[1:]
    flags = int.from_bytes(bits[:1] or b"\0", "big")
    return [usage for index, usage in enumerate(KEY_USAGES) if flags & 0x80 >> index]


def _extended_key_usages(extension: bytes | None) -> list[str]:
    if extension is None:
        return []
    usages = der.elements(extension, der.tlv(extension, 0, SEQUENCE))
    return sorted(USAGE_NAMES.get(o, o) for o in (_oid(extension, u) for u in usages))


def _is_ca(extension: bytes | None) -> bool:
    if extension is None:
        return False
    fields = der.elements(extension, der.tlv(extension, 0, SEQUENCE))
    return bool(fields) and extension[fields[0].at] == BOOLEAN and extension[fields[0].start] != 0


def _pem(data: bytes) -> str:
    text = base64.b64encode(data).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----", ""])
