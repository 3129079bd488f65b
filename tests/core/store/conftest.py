"""A store with two patients, three studies and their series, filed as the listener files."""

from pathlib import Path

import pytest

from desktop.core.store import Store
from tests.core.store.making import MR, dataset, filed

STUDY_A, STUDY_B, STUDY_C = "1.2.840.1.1", "1.2.840.1.2", "1.2.840.1.3"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    folder = tmp_path / "inbox"
    john = {"PatientID": "P1", "PatientName": "Doe^John", "PatientBirthDate": "19700101"}
    ann = {"PatientID": "P2%", "PatientName": "Smith^Ann", "PatientSex": "F"}
    for number in range(3):
        filed(
            folder,
            dataset(
                **john,
                StudyInstanceUID=STUDY_A,
                StudyDate="20200105",
                StudyTime="101500",
                AccessionNumber="ACC_1",
                StudyDescription="CT abdomen",
                SeriesInstanceUID=f"{STUDY_A}.{number % 2}",
                SeriesNumber=number % 2 + 1,
                SeriesDescription="axial" if number % 2 == 0 else "coronal",
                InstanceNumber=number + 1,
                SOPInstanceUID=f"{STUDY_A}.{number % 2}.{number}",
            ),
        )
    filed(
        folder,
        dataset(
            **john,
            StudyInstanceUID=STUDY_B,
            StudyDate="20210310",
            StudyTime="231000",
            AccessionNumber="ACC%1",
            SeriesInstanceUID=f"{STUDY_B}.1",
            Modality="MR",
            SOPClassUID=MR,
            SOPInstanceUID=f"{STUDY_B}.1.1",
        ),
    )
    filed(
        folder,
        dataset(
            **ann,
            StudyInstanceUID=STUDY_C,
            StudyDate="20210311",
            StudyTime="080000",
            SeriesInstanceUID=f"{STUDY_C}.1",
            Modality="US",
            SOPInstanceUID=f"{STUDY_C}.1.1",
        ),
    )
    opened = Store(folder)
    assert opened.counts() == (2, 3, 4, 5)  # a read waits for the first indexing
    yield opened
    opened.close()
