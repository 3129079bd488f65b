"""Shared fixtures: an isolated per-user home, copies of pydicom's DICOMDIR media and the
tests' PKI."""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import DICOMDIR_SUBFOLDERS, DICOMDIR_TESTS

if TYPE_CHECKING:  # cryptography only for the tests that ask for the PKI
    from tests.pki import Pki


@pytest.fixture(autouse=True)
def _isolated_home(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No test touches the real per-user directory; one marked ``homeless`` (its code reads
    and writes no file under the home) is spared the temporary folder."""
    if request.node.get_closest_marker("homeless") is None:
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


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> "Pki":
    """The CAs, certificates, keys and CRL of tests.pki, made once a session (keys take
    seconds): tests only read them, or add files of their own beside them."""
    from tests.pki import build_pki

    return build_pki(tmp_path_factory.mktemp("pki"))
