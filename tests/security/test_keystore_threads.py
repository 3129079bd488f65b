"""Opening a key leaves other threads running: the password is taken on the caller's thread
and every derivation runs on the thread that opens the key, in hashlib (which releases the
GIL); cryptography's PKCS#12 loader (GIL held ~0.1 s re-validating an RSA key) is used only
for identities of older keystores, which still open."""

import json
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs12

from desktop.security import certificates
from desktop.security import keystore as keystore_module
from desktop.security.errors import KeystoreError, PasswordError
from desktop.security.keystore import Keystore
from tests.pki import KEY_PASSWORD, Pki

PASSWORD = "correct horse battery"


def imported(home: Path, pki: Pki) -> Keystore:
    store = Keystore(home, lambda new: PASSWORD)
    store.import_identity("site", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    return store


def test_a_key_opens_without_cryptographys_pkcs12_loader_and_signs(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported(tmp_path, pki)
    public = json.loads((tmp_path / "keystore" / "identities" / "site.json").read_text())
    assert public["kdf"]["name"] == "pbkdf2-sha256" and public["kdf"]["rounds"] >= 200_000

    def refuse(*args: object) -> None:
        raise AssertionError("the GIL-holding PKCS#12 loader was used")

    monkeypatch.setattr(certificates, "load_pkcs12", refuse)
    identity = Keystore(tmp_path, lambda new: PASSWORD).unlock_identity("site")
    signature = identity.key.sign(b"x", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg, union-attr]
    identity.certificate.public_key().verify(signature, b"x", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg, union-attr]
    assert identity.chain  # from the public part


def test_an_identity_of_an_older_keystore_still_opens(tmp_path: Path, pki: Pki) -> None:
    store = imported(tmp_path, pki)
    folder = tmp_path / "keystore" / "identities"
    identity = store.unlock_identity("site")
    old = pkcs12.serialize_key_and_certificates(  # as the keystore wrote them before
        b"site",
        identity.key,  # type: ignore[arg-type]
        identity.certificate,
        identity.chain,
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(PASSWORD.encode()),
    )
    (folder / "site.p12").write_bytes(old)
    public = json.loads((folder / "site.json").read_text())
    del public["kdf"]
    (folder / "site.json").write_text(json.dumps(public))
    again = Keystore(tmp_path, lambda new: PASSWORD).unlock_identity("site")
    assert again.certificate == identity.certificate
    with pytest.raises(PasswordError, match="wrong keystore password"):
        Keystore(tmp_path, lambda new: "not the password").unlock_identity("site")


def test_the_password_is_taken_on_one_thread_and_derived_on_the_opening_one(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported(tmp_path, pki)
    derived_on: list[int] = []
    for name in ("_stretch", "_secret"):
        real = getattr(keystore_module, name)

        def spy(*args: object, real: object = real) -> object:
            derived_on.append(threading.get_ident())
            return real(*args)  # type: ignore[operator]

        monkeypatch.setattr(keystore_module, name, spy)
    asked: list[str] = []
    answers = iter(["a wrong password", PASSWORD])
    store = Keystore(tmp_path, lambda new: asked.append("asked") or next(answers))
    store.take_password()  # the GUI thread: a dialog may show, nothing is derived
    assert asked == ["asked"] and derived_on == []
    outcome: list[BaseException] = []

    def open_key() -> None:
        try:
            store.unlock_identity("site")
        except PasswordError as error:
            outcome.append(error)

    worker = threading.Thread(target=open_key)
    worker.start()
    worker.join()
    assert [str(e) for e in outcome] == ["wrong keystore password"]
    assert derived_on and threading.get_ident() not in derived_on
    store.take_password()  # asked again after a wrong one
    assert asked == ["asked", "asked"]
    assert store.unlock_identity("site").name == "site"


def test_a_tampered_key_file_is_damaged_not_a_wrong_password(tmp_path: Path, pki: Pki) -> None:
    store = imported(tmp_path, pki)
    path = tmp_path / "keystore" / "identities" / "site.p12"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(KeystoreError, match="damaged"):
        Keystore(tmp_path, lambda new: PASSWORD).unlock_identity("site")
    assert store.verifies(PASSWORD)
