"""DICOM_COURIER_HOME decides where per-user state lives."""

from pathlib import Path

import pytest

from desktop.core.paths import HOME_ENV, courier_home


def test_environment_overrides_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "custom"))
    assert courier_home() == tmp_path / "custom"


def test_default_is_the_platform_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOME_ENV)
    home = courier_home()
    assert home.name == "dicom-courier" and home.is_absolute()
