"""A keystore unlocked once (``unlock_all``, what a warm service holds) opens its identities in
another keystore object (``use``) without asking for the password and without deriving."""

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from desktop.security import keystore as keystore_module
from desktop.security.errors import PasswordError
from desktop.security.keystore import Keystore
from tests.pki import KEY_PASSWORD, Pki

PASSWORD = "correct horse battery"


def _never_asked(new: bool) -> str:
    raise AssertionError("the password was asked for")


def test_an_unlocked_keystore_opens_identities_without_password_or_derivation(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Keystore(tmp_path, lambda new: PASSWORD)
    first.import_identity("site", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    first.import_identity("other", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    unlocked = Keystore(tmp_path, lambda new: PASSWORD).unlock_all()
    assert len(unlocked.secrets) == 2 and PASSWORD not in repr(unlocked)

    def derive(*args: object) -> bytes:
        raise AssertionError("a secret was derived again")

    monkeypatch.setattr(keystore_module, "_secret", derive)
    later = Keystore(tmp_path, _never_asked)
    later.use(unlocked)
    later.prepare("site")  # nothing to start: the secret is held
    assert not later._deriving
    identity = later.tls_identity("site")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(
        _written(tmp_path / "c.pem", identity.certificate),
        _written(tmp_path / "k.pem", identity.key.decode()),
        password=identity.password,
    )
    assert later.unlock_identity("other").name == "other"


def test_an_unlocked_keystore_holds_its_identities_ready_for_tls(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm service's commands get the identity as the unlock opened it (no MAC checked
    again, no file read); one replaced since is opened again, from its new files."""
    first = Keystore(tmp_path, lambda new: PASSWORD)
    first.import_identity("site", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    unlocked = Keystore(tmp_path, lambda new: PASSWORD).unlock_all()
    held = unlocked.tls["site"][1]
    assert "client.test" in _subject(held.certificate) and PASSWORD not in repr(unlocked)

    def opened(*args: object) -> bytes:
        raise AssertionError("the identity's file was opened again")

    monkeypatch.setattr(keystore_module, "sealed_key", opened)
    later = Keystore(tmp_path, _never_asked)
    later.use(unlocked)
    assert later.tls_identity("site") is held
    monkeypatch.undo()

    first.remove("site")
    first.import_identity("site", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    replaced = later.tls_identity("site")
    assert replaced is not held and "server.test" in _subject(replaced.certificate)


def _subject(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


def test_unlocking_checks_the_password(tmp_path: Path, pki: Pki) -> None:
    Keystore(tmp_path, lambda new: PASSWORD).import_identity(
        "site", pki.path("client", ".p12"), file_password=KEY_PASSWORD
    )
    with pytest.raises(PasswordError, match="wrong keystore password"):
        Keystore(tmp_path, lambda new: "not the password").unlock_all()
    with pytest.raises(PasswordError, match="nothing to unlock"):
        Keystore(tmp_path / "empty", _never_asked).unlock_all()


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_trusted_bundle_is_checked_again_only_when_an_entry_changed(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm service checks the CAs once; its commands reuse the bundle until a CA is added
    or removed."""
    keystore = Keystore(tmp_path, lambda new: PASSWORD)
    keystore.import_cas(pki.path("root-only"))
    bundle = keystore.trusted_pem()
    assert bundle.count("BEGIN CERTIFICATE") == 1

    def checked(self: Keystore) -> str | None:
        raise AssertionError("the CAs were checked again")

    monkeypatch.setattr(Keystore, "_trusted_pem_checked_by_openssl", checked)
    assert Keystore(tmp_path, _never_asked).trusted_pem() == bundle
    monkeypatch.undo()

    keystore.import_cas(pki.path("rogue-root-only"))
    assert Keystore(tmp_path, _never_asked).trusted_pem().count("BEGIN CERTIFICATE") == 2
    removed = keystore.remove(keystore.trusted()[0].fingerprint)
    assert removed and Keystore(tmp_path, _never_asked).trusted_pem().count("BEGIN CERT") == 1
