"""The keystore password and the homes of the security tests: an empty one, the signing home
(made once per session) and a changeable copy of it."""

import shutil
from pathlib import Path

import pytest

from tests.pki import Pki, trusting_keystore
from tests.security.signing_fixtures import PASSWORD


@pytest.fixture
def keystore_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", PASSWORD)
    return PASSWORD


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("DICOM_COURIER_HOME", str(folder))
    return folder


@pytest.fixture(scope="session")
def signing_keystore(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Path:
    """A home trusting the test root, with identities 'courier' (RSA) and 'courier-ec', made
    once (key stretching is slow on purpose); tests only read it."""
    home = tmp_path_factory.mktemp("signing-home")
    trusting_keystore(home, pki, PASSWORD, {"courier": "client", "courier-ec": "ec"})
    return home


@pytest.fixture
def signing_home(signing_keystore: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The signing home, made the current one (read only), its password in the environment."""
    monkeypatch.setenv("DICOM_COURIER_HOME", str(signing_keystore))
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", PASSWORD)
    return signing_keystore


@pytest.fixture
def signing_home_copy(
    signing_keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A copy of the signing home that the test may change (its nodes, queue, trail), made
    the current home, with the keystore's password in the environment."""
    home = Path(shutil.copytree(signing_keystore, tmp_path / "home"))
    monkeypatch.setenv("DICOM_COURIER_HOME", str(home))
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", PASSWORD)
    return home
