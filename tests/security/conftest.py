"""The keystore password and the home of the security tests."""

from pathlib import Path

import pytest


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
