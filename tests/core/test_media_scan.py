"""Opening folders without a DICOMDIR: a recursive header-only scan that survives any file."""

import os
import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from desktop.core.errors import MediaError, NoDicomError
from desktop.core.media import open_media
from desktop.core.model import InstanceStatus, SharedStudy
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from tests.helpers import sample_file

STUDY = StudySpec(
    "P1",
    "Scan^Test",
    "20240101",
    "Scan study",
    (
        SeriesSpec("CT", "axial", count=5),
        SeriesSpec("MR", "cine", count=1, frames=4),
    ),
)


def test_scan_builds_the_tree_from_headers(tmp_path: Path) -> None:
    write_files(tmp_path / "nested" / "deeper", (STUDY,))
    tree = open_media(tmp_path)
    assert tree.source == "scan" and tree.problems == []
    [patient] = tree.patients
    [study] = patient.studies
    assert (patient.patient_name, study.study_description, study.modalities) == (
        "Scan^Test",
        "Scan study",
        ["CT", "MR"],
    )
    ct, mr = study.series
    assert [i.instance_number for i in ct.instances] == [1, 2, 3, 4, 5]
    assert (mr.instances[0].frames, mr.instances[0].rows, mr.instances[0].columns) == (4, 64, 64)


def test_non_dicom_truncated_and_duplicate_files_are_problems(tmp_path: Path) -> None:
    [first, *_] = write_files(tmp_path, (STUDY,))
    (tmp_path / "notes.txt").write_text("not an image")
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(first.read_bytes()[:-1000])
    shutil.copy(first, tmp_path / "copy.dcm")
    (tmp_path / ".DS_Store").write_bytes(b"\0" * 300)  # operating-system furniture: ignored
    tree = open_media(tmp_path)
    problems: dict[str, list[str]] = {}
    for problem in tree.problems:
        problems.setdefault(problem.path.name, []).append(problem.reason)
    assert problems["notes.txt"][0].startswith("not a DICOM file")
    truncation, duplicate = problems["truncated.dcm"]
    assert truncation.startswith("truncated: the file ends at byte")
    assert duplicate.startswith("duplicate SOP Instance UID")  # the damaged copy gives way
    assert problems["copy.dcm"][0].startswith("duplicate SOP Instance UID")
    assert ".DS_Store" not in problems
    assert sum(1 for _ in tree.instances()) == 6
    assert all(i.status is InstanceStatus.OK for i in tree.instances())


def test_damaged_file_alone_is_still_shown(tmp_path: Path) -> None:
    shutil.copy(sample_file("MR_truncated.dcm"), tmp_path)
    tree = open_media(tmp_path)
    [instance] = tree.instances()
    assert instance.status is InstanceStatus.DAMAGED
    assert "truncated" in tree.problems[0].reason


def test_single_file(tmp_path: Path) -> None:
    tree = open_media(sample_file("CT_small.dcm"))
    assert [i.sop_class_name for i in tree.instances()] == ["CT Image Storage"]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        open_media(tmp_path / "nowhere")


def test_folder_without_dicom_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(NoDicomError, match="no DICOM files"):
        open_media(tmp_path)


def test_unlistable_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_files(tmp_path / "ok", (STUDY,))
    locked = tmp_path / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path: str | Path) -> Any:  # tests run as root, where modes do not deny reads
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    tree = open_media(tmp_path)
    assert sum(1 for _ in tree.instances()) == 6
    assert [(p.path, p.reason) for p in tree.problems] == [
        (locked, "cannot list the folder: Permission denied")
    ]


def test_big_endian_implicit_and_compressed_files_are_read(tmp_path: Path) -> None:
    for name in (
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "JPEG2000.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
        "SC_rgb_rle_2frame.dcm",
    ):
        shutil.copy(sample_file(name), tmp_path / name)
    tree = open_media(tmp_path)
    sizes = {i.path.name: (i.rows, i.columns, i.frames) for i in tree.instances() if i.path}
    assert sizes["JPEG2000.dcm"] == (1024, 256, 1)
    assert sizes["SC_rgb_rle_2frame.dcm"] == (100, 100, 2)
    assert sizes["emri_small_jpeg_ls_lossless.dcm"] == (64, 64, 10)
    assert tree.problems[0].reason.startswith("duplicate")  # big-endian and implicit MR_small


@pytest.mark.parametrize("damaged_name", ["a.dcm", "z.dcm"])
def test_the_readable_copy_wins_whichever_is_found_first(tmp_path: Path, damaged_name: str) -> None:
    [first, *_] = write_files(tmp_path / "made", (STUDY,))
    readable_name = "z.dcm" if damaged_name == "a.dcm" else "a.dcm"
    shutil.copy(first, tmp_path / readable_name)
    (tmp_path / damaged_name).write_bytes(first.read_bytes()[:-1000])
    shutil.rmtree(tmp_path / "made")
    tree = open_media(tmp_path)
    [instance] = tree.instances()
    assert (instance.path, instance.status) == (tmp_path / readable_name, InstanceStatus.OK)
    assert [p.path.name for p in tree.problems] == [damaged_name, damaged_name]


def _foreign_copy(source: Path, target: Path) -> str:
    """A copy of ``source`` (same study and series UIDs) naming another patient; its UID."""
    dataset = pydicom.dcmread(source)
    dataset.PatientID, dataset.PatientName = "OTHER-42", "Other^Patient"
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.InstanceNumber = 99
    dataset.save_as(target, enforce_file_format=True)
    return str(dataset.SOPInstanceUID)


def test_one_study_uid_of_two_patients_is_never_merged(tmp_path: Path) -> None:
    [first, *_] = write_files(tmp_path, (STUDY,))
    foreign = _foreign_copy(first, tmp_path / "aa_other.dcm")
    tree = open_media(tmp_path)
    by_id = {p.patient_id: p for p in tree.patients}
    [own], [other] = by_id["P1"].studies, by_id["OTHER-42"].studies
    assert own.study_instance_uid == other.study_instance_uid
    assert foreign not in {i.sop_instance_uid for i in own.series[0].instances}
    assert [i.sop_instance_uid for s in other.series for i in s.instances] == [foreign]
    assert own.instance_count == 6 and other.instance_count == 1
    [problem] = tree.problems
    assert isinstance(problem, SharedStudy)
    assert problem.study_instance_uid == own.study_instance_uid
    assert problem.path == tmp_path / "aa_other.dcm"
    assert problem.reason.startswith(
        f"study {own.study_instance_uid} holds instances of 2 patients: "
    )
    assert "P1 (6)" in problem.reason and "OTHER-42 (1)" in problem.reason
