"""Shared fixtures: an isolated per-user home and copies of pydicom's DICOMDIR media."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import DICOMDIR_SUBFOLDERS, DICOMDIR_TESTS


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test touches the real per-user directory."""
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def dicomdir_media(tmp_path: Path) -> Callable[[str], Path]:
    """A copy of pydicom's 31-image media with the named DICOMDIR variant as its DICOMDIR."""

    def make(variant: str = "DICOMDIR") -> Path:
        root = tmp_path / variant
        for folder in DICOMDIR_SUBFOLDERS:
            shutil.copytree(DICOMDIR_TESTS / folder, root / folder)
        shutil.copy(DICOMDIR_TESTS / variant, root / "DICOMDIR")
        return root

    return make
