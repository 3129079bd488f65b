"""Sealed media burnt to an ISO image (F18): the volume label any system shows when the disc
is inserted, without the key, was the patient ID and the study date; sealed media get a
neutral one (the day of export), and neither the ID nor the study date is anywhere in the
image in the clear."""

from datetime import date
from pathlib import Path

import pydicom
import pytest

from tests.helpers import cli
from tests.pki import Pki
from tests.security.signing_fixtures import ct_copy

VOLUME_ID = slice(16 * 2048 + 40, 16 * 2048 + 72)  # the primary volume descriptor's field


def test_a_sealed_iso_is_labelled_without_the_patient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "media", "ct.dcm")
    original = pydicom.dcmread(source, stop_before_pixels=True)
    study = str(original.StudyInstanceUID)
    iso = tmp_path / "cd.iso"
    status, out, err = cli(
        capsys, "export-media", "--study", study, "--from", tmp_path / "media",
        "--out", tmp_path / "cd", "--seal-for", pki.path("client"), "--iso", iso,
    )  # fmt: skip
    assert status == 0, err
    label = f"SEALED_{date.today():%Y%m%d}"
    assert f"(volume {label}: sealed media, named without the patient)" in out
    image = iso.read_bytes()
    assert image[VOLUME_ID].decode().rstrip() == label
    patient_id, study_date = str(original.PatientID), str(original.StudyDate)
    assert patient_id and study_date
    assert patient_id[:7].upper().encode() not in image and study_date.encode() not in image

    status, out, err = cli(
        capsys, "export-media", "--study", study, "--from", tmp_path / "media",
        "--out", tmp_path / "plain", "--iso", tmp_path / "plain.iso",
    )  # fmt: skip
    assert status == 0, err  # plain media keep the label that helps find the disc
    assert f"{patient_id[:7].upper()}_{study_date}" in out
