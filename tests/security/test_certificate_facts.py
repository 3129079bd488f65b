"""The peer's chain described without cryptography (``certificate_facts.read``) says what
``certificates.describe`` says, for every certificate of the tests' PKI and for names,
keys and extensions a CA may write; what it does not read it leaves to cryptography."""

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from desktop.security import certificate_facts
from desktop.security.certificates import describe
from desktop.security.pki import PrivateKey
from tests.pki import STEMS, Pki

DER = serialization.Encoding.DER


def _same(certificate: x509.Certificate) -> None:
    assert certificate_facts.read(certificate.public_bytes(DER)) == describe(certificate)


@pytest.mark.parametrize("stem", STEMS)
def test_every_certificate_of_the_pki_reads_as_cryptography_describes_it(
    pki: Pki, stem: str
) -> None:
    _same(getattr(pki, stem).certificate)


def test_a_sha1_signed_certificate_reads_alike_and_is_a_weakness(pki: Pki) -> None:
    info = certificate_facts.read(pki.sha1_certificate.public_bytes(DER))
    assert info == describe(pki.sha1_certificate)
    assert info is not None and info.signature_hash == "sha1"
    assert certificate_facts.peer_weaknesses([info]) == [
        f"{info.subject} is signed with SHA1 (the profile needs SHA-256 or better)"
    ]


def test_a_1024_bit_rsa_key_reads_as_a_weakness(pki: Pki) -> None:
    info = certificate_facts.read(pki.rsa1024.certificate.public_bytes(DER))
    assert info is not None and (info.key_type, info.key_bits) == ("RSA", 1024)
    assert certificate_facts.peer_weaknesses([info]) == [
        "CN=rsa1024.test,O=DICOM Courier has a 1024-bit RSA key (the profile needs 2048)"
    ]


def _built(
    name: x509.Name,
    key: PrivateKey,
    *,
    extensions: tuple[x509.ExtensionType, ...] = (),
    algorithm: hashes.HashAlgorithm | None = None,
    not_after: dt.datetime = dt.datetime(2051, 3, 4, 5, 6, 7, tzinfo=dt.UTC),
    serial: int = 0x1F2E3D4C5B6A,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Issuer, Inc.")]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
        .not_valid_after(not_after)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, algorithm)  # type: ignore[arg-type]


ODD_NAME = x509.Name(
    [
        x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Radiology+CT"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "#2"),
            ]
        ),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "CH")]),
        x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(
                    NameOID.LOCALITY_NAME, "Zürich", _type=x509.name._ASN1Type.BMPString
                )
            ]
        ),
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, " Zug ")]
        ),
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, 'a;b<c>d"e\\f')]
        ),
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(ObjectIdentifier("1.2.840.113549.1.9.1"), "pacs@example.org")]
        ),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "PACS, main")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "second")]),
    ]
)


def test_odd_names_and_many_extensions_read_alike() -> None:
    extensions = (
        x509.SubjectAlternativeName(
            [
                x509.DNSName("pacs.example"),
                x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
                x509.RFC822Name("pacs@example.org"),
                x509.DNSName("*.example"),
                x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
            ]
        ),
        x509.KeyUsage(True, False, True, False, True, True, True, False, False),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING]),
        x509.BasicConstraints(ca=True, path_length=0),
    )
    certificate = _built(
        ODD_NAME,
        rsa.generate_private_key(65537, 1536),
        extensions=extensions,
        algorithm=hashes.SHA384(),
    )
    _same(certificate)
    info = certificate_facts.read(certificate.public_bytes(DER))
    assert info is not None and info.common_name == "PACS, main" and info.is_ca


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [
        (ec.generate_private_key(ec.SECP384R1()), hashes.SHA384()),
        (ec.generate_private_key(ec.SECP521R1()), hashes.SHA512()),
        (ec.generate_private_key(ec.SECP256R1()), hashes.SHA224()),
        (ed25519.Ed25519PrivateKey.generate(), None),
        (ed448.Ed448PrivateKey.generate(), None),
    ],
)
def test_other_keys_and_signatures_read_alike(
    key: PrivateKey, algorithm: hashes.HashAlgorithm | None
) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keys.test")])
    _same(_built(name, key, algorithm=algorithm, serial=1))


def test_what_it_does_not_read_is_left_to_cryptography() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "brainpool.test")])
    unusual = _built(name, ec.generate_private_key(ec.BrainpoolP256R1()), algorithm=hashes.SHA256())
    assert certificate_facts.read(unusual.public_bytes(DER)) is None
    bits = x509.Name(
        [
            x509.NameAttribute(
                NameOID.X500_UNIQUE_IDENTIFIER, b"\x01\x02", _type=x509.name._ASN1Type.BitString
            )
        ]
    )
    assert (
        certificate_facts.read(
            _built(
                bits, ec.generate_private_key(ec.SECP256R1()), algorithm=hashes.SHA256()
            ).public_bytes(DER)
        )
        is None
    )
    good = _built(name, ec.generate_private_key(ec.SECP256R1()), algorithm=hashes.SHA256())
    data = good.public_bytes(DER)
    assert certificate_facts.read(data[:-1]) is None
    assert certificate_facts.read(data + b"\0") is None
    assert certificate_facts.read(b"") is None
