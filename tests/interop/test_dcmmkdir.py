"""Independence: a DICOMDIR built by DCMTK's dcmmkdir (not pydicom) gives the generated tree."""

import subprocess
from pathlib import Path

from desktop.core.media import open_media
from desktop.core.model import InstanceStatus
from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets
from tests.helpers import require_tool

STUDIES = (
    StudySpec(
        "P1",
        "Mkdir^One",
        "20240101",
        "First",
        (
            SeriesSpec("CT", "axial", count=4),
            SeriesSpec("MR", "cine", count=2, frames=3),
        ),
        accession_number="A1",
    ),
    StudySpec("P1", "Mkdir^One", "20250505", "Second", (SeriesSpec("CT", "axial", count=2),)),
    StudySpec(
        "P2", "Mkdir^Two", "20230101", "Angio", (SeriesSpec("XA", "run", count=1, frames=5),)
    ),
)


def test_dcmmkdir_dicomdir_matches_what_was_generated(tmp_path: Path) -> None:
    dcmmkdir = require_tool("dcmmkdir")
    expected: dict[str, tuple[str, str, str, int]] = {}
    for number, dataset in enumerate(
        (d for study in STUDIES for d in study_datasets(study)), start=1
    ):
        target = tmp_path / "DATA" / f"IM{number:06d}"
        target.parent.mkdir(exist_ok=True)
        dataset.save_as(target, enforce_file_format=True)
        expected[str(dataset.SOPInstanceUID)] = (
            str(dataset.PatientID),
            str(dataset.StudyInstanceUID),
            str(dataset.SeriesInstanceUID),
            int(dataset.get("NumberOfFrames", 1)),
        )
    subprocess.run([dcmmkdir, "--recurse", "DATA"], cwd=tmp_path, check=True, capture_output=True)

    tree = open_media(tmp_path)

    assert tree.source == "dicomdir" and tree.problems == []
    found = {
        instance.sop_instance_uid: (
            patient.patient_id,
            study.study_instance_uid,
            series.series_instance_uid,
            instance.frames,
        )
        for patient in tree.patients
        for study in patient.studies
        for series in study.series
        for instance in series.instances
    }
    assert found == expected
    assert [p.patient_name for p in tree.patients] == ["Mkdir^One", "Mkdir^Two"]
    assert [s.study_description for s in tree.patients[0].studies] == ["Second", "First"]
    assert all(i.status is InstanceStatus.OK for i in tree.instances())
