"""A home with a keystore (the test CA, identity 'courier'), DCMTK storescp over TLS, and
Orthanc with our home as its node."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from tests.orthanc import Orthanc, orthanc_node
from tests.peers import free_port, running, storescp_tls_command
from tests.pki import Pki, prepare_home

PASSWORD = "keystore password for tests"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki) -> Path:
    return prepare_home(tmp_path / "home", monkeypatch, pki, "client", PASSWORD)


@dataclass
class Scp:
    port: int
    out: Path
    log: Path

    def received(self) -> dict[str, Path]:
        """Received files by SOP Instance UID."""
        return {
            str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
            for p in self.out.iterdir()
            if p.is_file()
        }


@pytest.fixture
def storescp(pki: Pki, tmp_path: Path) -> Iterator[Scp]:
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    log = tmp_path / "storescp.log"
    with running(storescp_tls_command(pki, out, port), port, log):
        yield Scp(port, out, log)


@pytest.fixture
def orthanc(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Orthanc]:
    """Orthanc (DICOM TLS, client certificates required) and our home with it as the node
    'orthanc', the PKI's server certificate our identity 'courier'."""
    with orthanc_node(
        pki, tmp_path, monkeypatch, capsys, identity="server", password=PASSWORD
    ) as peer:
        yield peer


def make_study(folder: Path, count: int = 12, rows: int = 64) -> list[Path]:
    study = StudySpec(
        "NET-1",
        "Net^Test",
        "20250101",
        "transfer",
        (SeriesSpec("CT", "axial", count=count, rows=rows, columns=rows),),
    )
    return write_files(folder, (study,))


def same_dataset(sent: Path, received: Path) -> bool:
    a, b = pydicom.dcmread(sent), pydicom.dcmread(received)
    return bool(a.SOPInstanceUID == b.SOPInstanceUID and a.PixelData == b.PixelData)


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
