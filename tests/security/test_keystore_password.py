"""Changing the keystore password (G3): every identity sealed again under the new one, the old
refused after, all or nothing when the change is cut short."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from desktop.security import keystore as keystore_module
from desktop.security.errors import KeystoreError, PasswordError
from desktop.security.keystore import CHANGE, STAGING, Keystore
from desktop.security.tls import Profile, client_context
from tests.helpers import cli
from tests.peers import common_name_seen_by_server
from tests.pki import KEY_PASSWORD, Pki, prepare_home

OLD, NEW = "correct horse battery", "a brand new staple"


def two_identities(tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = prepare_home(tmp_path, monkeypatch, pki, "client", OLD)
    store = Keystore(home, lambda new: OLD)
    store.import_identity("signer", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    return home


def handshake(pki: Pki, home: Path, password: str) -> str:
    """The common name the server saw in a TLS handshake presenting identity 'courier'."""
    store = Keystore(home, lambda new: password)
    client = client_context(Profile.BCP195_ND, store.trusted_pem(), store.tls_identity("courier"))
    client.check_hostname = False
    return common_name_seen_by_server(pki, client)


def signs(home: Path, password: str) -> bool:
    """Whether identity 'signer' opens and signs what its certificate verifies."""
    opened = Keystore(home, lambda new: password).unlock_identity("signer")
    public = opened.certificate.public_key()
    if isinstance(opened.key, rsa.RSAPrivateKey):
        signature = opened.key.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
    else:
        assert isinstance(opened.key, ec.EllipticCurvePrivateKey)
        signature = opened.key.sign(b"data", ec.ECDSA(hashes.SHA256()))
        public.verify(signature, b"data", ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr, call-arg]
    return True


def refused(home: Path, password: str) -> bool:
    with pytest.raises(PasswordError, match="wrong keystore password"):
        Keystore(home, lambda new: password).unlock_identity("signer")
    with pytest.raises(PasswordError, match="wrong keystore password"):
        Keystore(home, lambda new: password).tls_identity("courier")
    return not Keystore(home, lambda new: password).verifies(password)


def test_a_changed_password_opens_every_identity_and_the_old_one_is_refused(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = two_identities(tmp_path, pki, monkeypatch)
    changes: list[str] = []
    store = Keystore(home, lambda new: OLD, on_change=lambda folder, what: changes.append(what))
    assert store.change_password(lambda: NEW) == 2
    assert changes == ["keystore password changed: 2 identities sealed again under it"]
    assert refused(home, OLD)
    assert handshake(pki, home, NEW) == "client.test"
    assert signs(home, NEW)
    assert store.unlock_identity("signer").name == "signer"  # the same object goes on
    assert not (home / "keystore" / CHANGE).exists()
    assert not (home / "keystore" / STAGING).exists()


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("not the password", NEW, "wrong keystore password"),
        (OLD, "short", "at least 8 characters"),
        (OLD, OLD, "is the old one"),
    ],
)
def test_a_change_refused_leaves_the_old_password(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch, old: str, new: str, reason: str
) -> None:
    home = two_identities(tmp_path, pki, monkeypatch)
    with pytest.raises(PasswordError, match=reason):
        Keystore(home, lambda asked: old).change_password(lambda: new)
    assert signs(home, OLD)


def test_a_change_cut_short_before_its_commit_leaves_the_old_password(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = two_identities(tmp_path, pki, monkeypatch)

    def crash(source: Path, target: Path) -> None:
        raise OSError("power cut")

    with monkeypatch.context() as patched:
        patched.setattr(keystore_module, "replace_durably", crash)
        with pytest.raises(OSError, match="power cut"):
            Keystore(home, lambda new: OLD).change_password(lambda: NEW)
    assert not (home / "keystore" / STAGING).exists()  # the new files, never committed
    assert signs(home, OLD) and handshake(pki, home, OLD) == "client.test"
    assert refused(home, NEW)
    leftover = home / "keystore" / STAGING / "identities"  # as a power cut leaves it
    leftover.mkdir(parents=True)
    (leftover / "signer.p12").write_bytes(b"half written")
    assert signs(home, OLD)
    assert not (home / "keystore" / STAGING).exists()  # dropped by the next opening


def test_a_change_cut_short_after_its_commit_is_finished_at_the_next_opening(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = two_identities(tmp_path, pki, monkeypatch)
    moved: list[Path] = []

    def crash_after_one(source: Path, target: Path) -> None:
        if len(moved) == 2:  # the commit and one identity's first file moved
            raise OSError("power cut")
        moved.append(target)
        source.replace(target)

    with monkeypatch.context() as patched:
        patched.setattr(keystore_module, "replace_durably", crash_after_one)
        with pytest.raises(OSError, match="power cut"):
            Keystore(home, lambda new: OLD).change_password(lambda: NEW)
    assert moved[0] == home / "keystore" / CHANGE
    assert signs(home, NEW) and handshake(pki, home, NEW) == "client.test"
    assert refused(home, OLD)
    assert not (home / "keystore" / CHANGE).exists()


def test_the_command_changes_the_password_and_audits_it(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = two_identities(tmp_path, pki, monkeypatch)
    monkeypatch.delenv("DICOM_COURIER_KEYSTORE_PASSWORD")
    (tmp_path / "old").write_text(OLD + "\n")
    (tmp_path / "new").write_text(NEW + "\n")
    files = ("--password-file", str(tmp_path / "old"), "--new-password-file", str(tmp_path / "new"))
    status, out, err = cli(capsys, "keystore", "password", *files)
    assert status == 0, err
    assert "keystore password changed: 2 identities sealed again" in out
    assert refused(home, OLD) and signs(home, NEW)
    status, _, err = cli(capsys, "keystore", "password", *files)  # the old one no longer
    assert status != 0 and "wrong keystore password" in err
    status, out, _ = cli(capsys, "audit", "--json")
    assert "keystore password changed" in out


def test_a_current_password_given_is_checked_and_nothing_is_asked(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = two_identities(tmp_path, pki, monkeypatch)

    def never(new: bool) -> str:
        raise AssertionError("asked for the password")  # the GUI's prompt, off its thread

    with pytest.raises(PasswordError, match="wrong keystore password"):
        Keystore(home, never).change_password(lambda: NEW, old="not the password")
    assert Keystore(home, never).change_password(lambda: NEW, old=OLD) == 2
    assert signs(home, NEW)


def test_a_damaged_identity_stops_the_change_naming_it(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = two_identities(tmp_path, pki, monkeypatch)
    sealed = home / "keystore" / "identities" / "signer.p12"
    sealed.write_bytes(sealed.read_bytes()[:100])
    with pytest.raises(KeystoreError, match=r"identity signer cannot be opened.*unchanged"):
        Keystore(home, lambda new: OLD).change_password(lambda: NEW)
    assert handshake(pki, home, OLD) == "client.test"
    assert not (home / "keystore" / STAGING).exists()


def test_a_password_held_from_before_a_change_is_not_taken_for_a_damaged_identity(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A warm service unlocked before ``keystore password`` holds the old password (E1 of
    findings8): its commands open identities with the password they are given, as a locked
    service's do, and are told the unlock is out of date, never that the identity is
    damaged (whose advice, to remove it, destroys its key)."""
    home = two_identities(tmp_path, pki, monkeypatch)
    held = Keystore(home, lambda new: OLD).unlock_all()  # what the service holds
    Keystore(home, lambda new: OLD).change_password(lambda: NEW)

    given = Keystore(home, lambda new: NEW)  # the new password, from the environment
    given.use(held)
    assert given.unlock_identity("signer").name == "signer"
    assert given.tls_identity("courier").name == "courier"
    assert "service unlock" in caplog.text

    def no_terminal(new: bool) -> str:
        raise PasswordError("the keystore password is needed and there is no terminal")

    alone = Keystore(home, no_terminal)
    alone.use(held)
    with pytest.raises(PasswordError, match="no terminal"):
        alone.tls_identity("courier")
