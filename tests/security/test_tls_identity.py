"""A TLS context gets our identity's key still sealed (``Keystore.tls_identity``): the
PKCS#12 MAC checks the secret, OpenSSL opens the key in the context, no key is opened in
Python; the secret may be derived ahead, on a thread (``Keystore.prepare``); every failure
still says what it is."""

import json
import ssl
import threading
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID

from desktop.security import certificates, own_pkcs12
from desktop.security import keystore as keystore_module
from desktop.security.errors import KeystoreError, PasswordError
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile, client_context
from tests.helpers import cli
from tests.peers import common_name_seen_by_server
from tests.pki import Pki, prepare_home

PASSWORD = "correct horse battery"


def test_the_sealed_key_is_presented_in_a_handshake(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path, monkeypatch, pki, "client", PASSWORD)

    def refuse(*args: object) -> None:
        raise AssertionError("a key was opened in Python")

    monkeypatch.setattr(own_pkcs12, "load_own_key", refuse)
    monkeypatch.setattr(certificates, "load_pkcs12", refuse)
    identity = Keystore(home, lambda new: PASSWORD).tls_identity("courier")
    assert identity.key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    client = client_context(
        Profile.BCP195_ND, Keystore(home, lambda new: PASSWORD).trusted_pem(), identity
    )
    client.check_hostname = False
    seen = common_name_seen_by_server(pki, client)
    name = pki.client.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert seen == name


def test_a_public_part_whose_certificate_is_not_the_keys_is_damaged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path, monkeypatch, pki, "client", PASSWORD)
    public = home / "keystore" / "identities" / "courier.json"
    entry = json.loads(public.read_text())
    entry["certificate"] = pki.path("server").read_text()  # another key's certificate
    public.write_text(json.dumps(entry))
    status, _, err = cli(capsys, "tls-check", "127.0.0.1", 9, "--identity", "courier")
    assert status == 1
    assert err.startswith(
        "dicom-courier: the identity 'courier' is damaged (courier.json: its certificate and "
        "key do not load together: "
    ), err


def test_a_secret_prepared_ahead_is_derived_once_on_another_thread(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path, monkeypatch, pki, "client", PASSWORD)
    derived_on: list[int] = []
    real = keystore_module._secret

    def spy(*args: object) -> bytes:
        derived_on.append(threading.get_ident())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(keystore_module, "_secret", spy)
    asked: list[str] = []
    store = Keystore(home, lambda new: asked.append("asked") or PASSWORD)
    store.prepare("courier")
    assert asked == ["asked"]
    assert store.tls_identity("courier").name == "courier"
    assert len(derived_on) == 1 and derived_on[0] != threading.get_ident()
    assert asked == ["asked"]


def test_a_wrong_password_prepared_ahead_is_still_a_wrong_password(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path, monkeypatch, pki, "client", PASSWORD)
    store = Keystore(home, lambda new: "not the password")
    store.prepare("courier")
    with pytest.raises(PasswordError, match="wrong keystore password"):
        store.tls_identity("courier")


def test_preparing_what_is_not_there_leaves_the_error_to_the_opening(tmp_path: Path) -> None:
    store = Keystore(tmp_path, lambda new: PASSWORD)
    store.prepare("nobody")  # no keystore, no identity: nothing to say yet
    with pytest.raises(KeystoreError, match="no identity named 'nobody'"):
        store.tls_identity("nobody")


def test_a_tampered_key_file_is_damaged_for_tls_too(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path, monkeypatch, pki, "client", PASSWORD)
    path = home / "keystore" / "identities" / "courier.p12"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(KeystoreError, match="the identity 'courier' is damaged"):
        Keystore(home, lambda new: PASSWORD).tls_identity("courier")


def test_trusted_files_without_their_last_newline_are_all_trusted(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path, monkeypatch, pki, "client", PASSWORD)
    store = Keystore(home, lambda new: PASSWORD)
    store.import_cas(pki.path("rogue-root-only"))
    for path in (home / "keystore" / "trusted").glob("*.pem"):
        path.write_text(path.read_text().rstrip("\n"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=store.trusted_pem())
    assert len(context.get_ca_certs()) == len(store.trusted()) == 2
