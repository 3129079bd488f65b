"""Orthanc 1.10 with DICOM TLS and client certificates required: echo, store, find at every
level, and a move back to our own TLS listener."""

import argparse
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from desktop.commands.transfer import connection
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.query import find
from tests.helpers import cli, sample_file
from tests.orthanc import Orthanc, add_orthanc_node, running_orthanc
from tests.pki import Pki, prepare_home

PASSWORD = "keystore password for orthanc tests"
STUDY = StudySpec(
    "ORTH-1",
    "Orthanc^Test",
    "20240301",
    "Orthanc study",
    (SeriesSpec("CT", "axial", count=4), SeriesSpec("MR", "t1", count=3)),
)


@pytest.fixture(scope="module")
def orthanc(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with running_orthanc(pki, tmp_path_factory.mktemp("orthanc")) as peer:
        yield peer


@pytest.fixture
def home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pki: Pki,
    orthanc: Orthanc,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    folder = prepare_home(tmp_path / "home", monkeypatch, pki, "server", PASSWORD)
    add_orthanc_node(capsys, orthanc)
    return folder


@pytest.fixture(scope="module")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_files(tmp_path_factory.mktemp("study"), (STUDY,))


def test_echo(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    status, out, err = cli(capsys, "echo", "orthanc")
    assert status == 0, err
    assert "success" in out and "TLSv1." in out


def test_store_then_find_at_every_level(
    capsys: pytest.CaptureFixture[str], home: Path, orthanc: Orthanc, study_files: list[Path]
) -> None:
    status, out, err = cli(capsys, "send", "orthanc", study_files[0].parent.parent)
    assert status == 0, out + err
    first = pydicom.dcmread(study_files[0])
    study_uid = str(first.StudyInstanceUID)
    assert len(orthanc.rest("GET", "/instances")) >= 7

    found = {}
    for level, keys in (
        ("patient", ["PatientID=ORTH-1"]),
        ("study", ["PatientName=Orthanc*"]),
        ("series", [f"StudyInstanceUID={study_uid}"]),
        (
            "image",
            [f"StudyInstanceUID={study_uid}", f"SeriesInstanceUID={first.SeriesInstanceUID}"],
        ),
    ):
        status, out, err = cli(
            capsys, "find", "orthanc", "--level", level, "--json", *[f"-k{k}" for k in keys]
        )
        assert status == 0, err
        found[level] = json.loads(out)
    for level, keys in (("series", ["PatientID=ORTH-1"]), ("image", ["PatientName=Orthanc*"])):
        status, out, err = cli(
            capsys, "find", "orthanc", "--level", level, "--json", *[f"-k{k}" for k in keys]
        )
        assert status == 0, err
        found[f"{level} by patient"] = json.loads(out)
    assert [m["PatientName"] for m in found["patient"]] == ["Orthanc^Test"]
    assert sorted(m["Modality"] for m in found["series by patient"]) == ["CT", "MR"]
    assert len(found["image by patient"]) == 7
    assert [m["StudyInstanceUID"] for m in found["study"]] == [study_uid]
    assert sorted(m["Modality"] for m in found["series"]) == ["CT", "MR"]
    assert len(found["image"]) == 4


def test_move_back_to_our_tls_listener(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    orthanc: Orthanc,
    study_files: list[Path],
    tmp_path: Path,
) -> None:
    cli(capsys, "send", "orthanc", study_files[0].parent.parent)
    study_uid = str(pydicom.dcmread(study_files[0]).StudyInstanceUID)
    status, out, err = cli(
        capsys,
        "move",
        "orthanc",
        "--study",
        study_uid,
        "--listen",
        "--port",
        orthanc.move_port,
        "--out",
        tmp_path / "inbox",
    )
    assert status == 0, out + err
    assert "completed 7, failed 0" in out
    received = sorted((tmp_path / "inbox").rglob("*.dcm"))
    assert len(received) == 7
    sent = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in study_files}
    for path in received:
        dataset = pydicom.dcmread(path)
        assert dataset.PixelData == pydicom.dcmread(sent[str(dataset.SOPInstanceUID)]).PixelData


def test_refused_instance_is_reported(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    """Orthanc refuses a file without Patient ID (0xA700): the send says so and fails."""
    shutil.copy(sample_file("JPEGLSNearLossless_16.dcm"), tmp_path / "no-patient-id.dcm")
    status, out, _ = cli(
        capsys, "send", "orthanc", tmp_path / "no-patient-id.dcm", "--attempts", "1"
    )
    assert status == 1 and "FAILED" in out and "0xA700" in out


def test_gui_finds_and_retrieves_into_the_inbox(
    qtbot,
    home: Path,
    orthanc: Orthanc,  # type: ignore[no-untyped-def]
    study_files: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Query/Retrieve panel against Orthanc: find at study level, retrieve to our TLS
    Inbox listener, the instances arrive."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from desktop.app import InboxSettings, Services
    from desktop.ui.main_window import MainWindow

    cli(capsys, "send", "orthanc", study_files[0].parent.parent)
    window = MainWindow(Services(home, lambda new: PASSWORD))
    assert window.listening.apply_inbox(
        InboxSettings("COURIER", orthanc.move_port, identity="courier")
    )
    window.query.set_nodes(["orthanc"])
    window.query.patient_name.setText("Orthanc*")
    window.querying.find_studies("orthanc", window.query.keys())
    qtbot.waitUntil(lambda: window.query.results.rowCount() == 1, timeout=20000)
    window.query.results.selectRow(0)
    window.query._retrieve()
    qtbot.waitUntil(lambda: len(list((home / "inbox").rglob("*.dcm"))) == 7, timeout=30000)
    window.services.stop_inbox()
    window.viewer.decoder.close()


def test_move_to_an_unknown_destination_fails_in_c_move_words(
    capsys: pytest.CaptureFixture[str], home: Path, study_files: list[Path]
) -> None:
    """Orthanc 1.10 answers 0xC000: C-MOVE's 'unable to process', not C-STORE's 'cannot
    understand', and the command fails."""
    cli(capsys, "send", "orthanc", study_files[0].parent.parent)
    study_uid = str(pydicom.dcmread(study_files[0]).StudyInstanceUID)
    status, _, err = cli(capsys, "move", "orthanc", "--study", study_uid, "--dest", "NOBODY")
    assert status == 1
    assert "the peer failed the retrieve: failure: unable to process (0xC000)" in err


def test_stopping_a_find_cancels_it(
    capsys: pytest.CaptureFixture[str], home: Path, study_files: list[Path]
) -> None:
    """Closing a find after its first match sends C-CANCEL; Orthanc then answers the next
    find on a new association as usual."""
    cli(capsys, "send", "orthanc", study_files[0].parent.parent)
    first_file = pydicom.dcmread(study_files[0])
    study_uid = str(first_file.StudyInstanceUID)
    _, connector, peer = connection(argparse.Namespace(password_file=None), "orthanc")
    keys = {"StudyInstanceUID": study_uid}
    matches = find(
        connector, peer, "image", {**keys, "SeriesInstanceUID": first_file.SeriesInstanceUID}
    )
    first = next(matches)
    matches.close()
    assert str(first.StudyInstanceUID) == study_uid
    assert len(list(find(connector, peer, "series", keys))) == 2
