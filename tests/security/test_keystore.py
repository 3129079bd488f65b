"""The keystore: every import format, every refusal with its reason, keys encrypted at rest."""

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from desktop.security.errors import CertificateError, KeystoreError, PasswordError, PolicyError
from desktop.security.keystore import Keystore
from desktop.security.passwords import password_source
from tests.pki import KEY_PASSWORD, Pki

PASSWORD = "correct horse battery"


def keystore(home: Path, password: str = PASSWORD) -> Keystore:
    return Keystore(home, lambda new: password)


@pytest.mark.parametrize("file", ["root-only.pem", "root.der", "bundle.pem", "cas.p7b"])
def test_ca_formats(tmp_path: Path, pki: Pki, file: str) -> None:
    store = keystore(tmp_path)
    result = store.import_cas(pki.path(file, ""))
    expected = 1 if file.startswith("root") else 2
    assert len(result.added) == expected
    assert {i.subject for i in store.trusted()} >= {"CN=Test Root CA,O=DICOM Courier"}
    assert store.import_cas(pki.path(file, "")).already_present  # idempotent


def test_leaf_is_not_a_ca(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(PolicyError, match=r"is not a CA certificate \(its basic constraints say"):
        keystore(tmp_path).import_cas(pki.path("server"))
    assert keystore(tmp_path).trusted() == []


def test_a_leaf_without_basic_constraints_is_refused_for_what_it_lacks(
    tmp_path: Path, pki: Pki
) -> None:
    with pytest.raises(PolicyError, match="it has no basic constraints extension"):
        keystore(tmp_path).import_cas(pki.path("sha1"))  # made by openssl x509 -req: no extension


def test_garbage_is_not_a_certificate(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x00\x01 definitely not a certificate")
    with pytest.raises(CertificateError, match="no certificate found"):
        keystore(tmp_path).import_cas(junk)


@pytest.mark.parametrize(
    ("stem", "files"),
    [("pkcs12", {"file": "client.p12"}), ("pem+key", {"file": "client.pem", "key": "client.key"})],
)
def test_identity_formats(tmp_path: Path, pki: Pki, stem: str, files: dict[str, str]) -> None:
    store = keystore(tmp_path)
    key = pki.path(files["key"], "") if "key" in files else None
    result = store.import_identity(
        "site-a", pki.path(files["file"], ""), key_path=key, file_password=KEY_PASSWORD
    )
    assert result.added[0].subject == "CN=client.test,O=DICOM Courier"
    assert any("serverAuth" in w for w in result.warnings)  # a client-only certificate
    unlocked = store.unlock_identity("site-a")
    assert unlocked.certificate == pki.client.certificate
    assert [c.subject for c in store.identity("site-a").chain] == [
        "CN=Test Intermediate CA,O=DICOM Courier"
    ]


def test_der_certificate_with_der_key_and_separate_chain(tmp_path: Path, pki: Pki) -> None:
    der_certificate = tmp_path / "server.der"
    der_certificate.write_bytes(pki.server.certificate.public_bytes(serialization.Encoding.DER))
    der_key = tmp_path / "server.key.der"
    der_key.write_bytes(
        pki.server.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    store = keystore(tmp_path / "home")
    result = store.import_identity(
        "server",
        der_certificate,
        key_path=der_key,
        chain_path=pki.path("intermediate-only"),
        file_password=KEY_PASSWORD,
    )
    assert result.warnings == []
    assert len(store.identity("server").chain) == 1


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        ("expired", "expired on"),
        ("not_yet_valid", "is not valid before"),
        ("rsa1024", "1024-bit RSA key"),
        ("ec192", "192-bit EC key"),
    ],
)
def test_refused_identities(tmp_path: Path, pki: Pki, stem: str, reason: str) -> None:
    store = keystore(tmp_path)
    with pytest.raises(PolicyError, match=reason):
        store.import_identity(
            stem, pki.path(stem), key_path=pki.path(stem, ".key"), file_password=KEY_PASSWORD
        )
    assert store.identities() == []


def test_sha1_refused_unless_legacy_allowed(tmp_path: Path, pki: Pki) -> None:
    store = keystore(tmp_path)
    arguments = {
        "key_path": pki.path("client", ".key"),
        "file_password": KEY_PASSWORD,
        "chain_path": pki.path("intermediate-only"),
    }
    with pytest.raises(PolicyError, match="signed with SHA1"):
        store.import_identity("old", pki.path("sha1"), **arguments)  # type: ignore[arg-type]
    result = store.import_identity("old", pki.path("sha1"), allow_legacy=True, **arguments)  # type: ignore[arg-type]
    assert any("allowed for a legacy node" in w for w in result.warnings)
    assert store.identity("old").allow_legacy


def test_expiring_soon_is_a_warning(tmp_path: Path, pki: Pki) -> None:
    result = keystore(tmp_path).import_identity(
        "soon",
        pki.path("expiring_soon"),
        key_path=pki.path("expiring_soon", ".key"),
        file_password=KEY_PASSWORD,
    )
    assert any("expires in 9 days" in w or "expires in 10 days" in w for w in result.warnings)


def test_key_must_match_certificate(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(PolicyError, match="does not belong to the certificate"):
        keystore(tmp_path).import_identity(
            "mixed",
            pki.path("server"),
            key_path=pki.path("client", ".key"),
            file_password=KEY_PASSWORD,
        )


def test_wrong_file_passwords(tmp_path: Path, pki: Pki) -> None:
    store = keystore(tmp_path)
    with pytest.raises(PasswordError, match="wrong password for the PKCS#12 file"):
        store.import_identity("a", pki.path("client", ".p12"), file_password="nope")
    with pytest.raises(PasswordError, match="wrong password for the key"):
        store.import_identity(
            "a", pki.path("client"), key_path=pki.path("client", ".key"), file_password="nope"
        )
    with pytest.raises(PasswordError, match="the key is encrypted: give its password"):
        store.import_identity("a", pki.path("client"), key_path=pki.path("client", ".key"))


def test_wrong_keystore_password(tmp_path: Path, pki: Pki) -> None:
    keystore(tmp_path).import_identity("a", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    with pytest.raises(PasswordError, match="wrong keystore password"):
        keystore(tmp_path, "not the password").unlock_identity("a")


def test_no_password_without_a_terminal(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DICOM_COURIER_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    store = Keystore(tmp_path, password_source(None, "test-account"))
    with pytest.raises(PasswordError, match="no terminal to ask on: use --password-file"):
        store.import_identity("a", pki.path("client", ".p12"), file_password=KEY_PASSWORD)


def test_find_remove_and_export(tmp_path: Path, pki: Pki) -> None:
    store = keystore(tmp_path)
    store.import_cas(pki.path("bundle"))
    store.import_identity("site-a", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    root = next(i for i in store.trusted() if "Root" in i.subject)
    assert store.find(root.fingerprint[:8]) == ("ca", root)
    assert store.find("site-a")[0] == "identity"
    out = tmp_path / "exported.der"
    store.export_certificate("site-a", out)
    assert out.read_bytes() == pki.client.certificate.public_bytes(serialization.Encoding.DER)
    assert "identity site-a" in store.remove("site-a")
    assert "trusted CA" in store.remove(root.fingerprint.replace(":", "")[:10])
    assert len(store.trusted()) == 1 and store.identities() == []
    with pytest.raises(KeystoreError, match="no identity named"):
        store.identity("site-a")


def test_remove_takes_the_identity_named_when_another_holds_the_same_certificate(
    tmp_path: Path, pki: Pki
) -> None:
    """Tester's finding 50: ``remove ws`` removed K1 (first by name with ws's certificate)."""
    store = keystore(tmp_path)
    store.import_identity("ws", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    result = store.import_identity("K1", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    assert any("identity ws holds the same certificate" in w for w in result.warnings)
    assert store.remove("ws").startswith("identity ws ")
    assert [i.name for i in store.identities()] == ["K1"]
    assert store.unlock_identity("K1").certificate == pki.client.certificate


def test_keys_at_rest_are_encrypted_and_private(tmp_path: Path, pki: Pki) -> None:
    """After imports of every kind, no file holds a key in the clear and all are 0600."""
    store = keystore(tmp_path)
    store.import_cas(pki.path("bundle"))
    store.import_identity("p12", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    store.import_identity(
        "pem", pki.path("server"), key_path=pki.path("server", ".key"), file_password=KEY_PASSWORD
    )
    files = [p for p in (tmp_path / "keystore").rglob("*") if p.is_file()]
    assert len(files) == 8  # with keystore.lock, the empty write lock
    for path in files:
        data = path.read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert b"PRIVATE KEY-----" not in data or b"ENCRYPTED PRIVATE KEY" in data, path
        with pytest.raises((ValueError, TypeError)):
            serialization.load_der_private_key(data, None)
    for name in ("p12", "pem"):
        from cryptography.hazmat.primitives.serialization import pkcs12

        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(
                (tmp_path / "keystore" / "identities" / f"{name}.p12").read_bytes(), None
            )
