"""One PKI for the whole session (RSA keys take time to make)."""

from pathlib import Path

import pytest

from tests.pki import Pki, build_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def keystore_password(monkeypatch: pytest.MonkeyPatch) -> str:
    password = "correct horse battery"
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", password)
    return password


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("DICOM_COURIER_HOME", str(folder))
    return folder
