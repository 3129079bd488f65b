"""Media written by export-media, checked by DCMTK (dcmdump, dcmmkdir) and xorriso."""

import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets
from tests.helpers import cli, require_tool

STUDY = StudySpec(
    "PAT-7",
    "Export^Seven",
    "20240229",
    "Head",
    (SeriesSpec("CT", "axial", count=4), SeriesSpec("MR", "cine", count=2, frames=3)),
)


@pytest.fixture
def exported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The study exported to ``cd`` with ``cd.iso`` beside it."""
    require_tool("xorriso")
    for number, dataset in enumerate(study_datasets(STUDY), start=1):
        path = tmp_path / "in" / f"file{number}.dcm"
        path.parent.mkdir(exist_ok=True)
        dataset.save_as(path, enforce_file_format=True)
    study = str(dataset.StudyInstanceUID)
    arguments = ["--from", tmp_path / "in", "--out", tmp_path / "cd", "--iso", tmp_path / "cd.iso"]
    status, _, err = cli(capsys, "export-media", "--study", study, *arguments)
    assert status == 0, err
    return tmp_path / "cd"


def _image_records(dump: str) -> int:
    return dump.count('"Directory Record" IMAGE')


def test_dcmdump_reads_the_dicomdir_with_every_record(exported: Path) -> None:
    dcmdump = require_tool("dcmdump")
    result = subprocess.run(
        [dcmdump, exported / "DICOMDIR"], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0 and result.stderr == ""
    assert _image_records(result.stdout) == 6
    assert "[PAT_7_20240229]" in result.stdout  # the File-set ID


def test_dcmmkdir_accepts_the_files_and_updates_the_dicomdir_without_duplicates(
    exported: Path, tmp_path: Path
) -> None:
    dcmmkdir, dcmdump = require_tool("dcmmkdir"), require_tool("dcmdump")
    # its general-purpose profile checks every file and File ID of ours
    checked = subprocess.run(
        [dcmmkdir, "--output-file", tmp_path / "CHECKDIR", "--recurse", "PT000000"],
        cwd=exported,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0 and checked.stderr == ""
    # updating reads our DICOMDIR by its offsets: records it finds are not added twice
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    updated = subprocess.run(
        [dcmmkdir, "+U", "--recurse", "PT000000"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert updated.returncode == 0 and updated.stderr == ""
    dump = subprocess.run([dcmdump, copy / "DICOMDIR"], capture_output=True, text=True, check=True)
    assert _image_records(dump.stdout) == 6


def test_the_iso_image_lists_the_dicomdir_and_every_file(exported: Path) -> None:
    xorriso = require_tool("xorriso")
    image = exported.parent / "cd.iso"
    listing = subprocess.run(
        [xorriso, "-indev", image, "-pvd_info", "-find", "/", "-type", "f"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    on_media = {
        "/" + p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file()
    }
    assert {line.strip("'") for line in listing.splitlines() if line.startswith("'/")} == on_media
    assert "/DICOMDIR" in on_media and len(on_media) == 7
    assert f"Volume Id    : {dcmread(exported / 'DICOMDIR').FileSetID}" in listing
    names = image.read_bytes()
    assert b"DICOMDIR.;1" in names and b"IM000000.;1" in names  # PS3.12 Level 1 names
    assert b"RRIP" not in names and b"%/E" not in names  # no Rock Ridge, no Joliet
