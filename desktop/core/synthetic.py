"""Synthetic DICOM media: the demo's sample patients, and test and benchmark data.

Images are drawn (a CT phantom in Hounsfield units, a moving disc for cines), never copied from
real patients, so the demo and the tests need no download and carry no personal data.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    UltrasoundMultiFrameImageStorage,
    XRayAngiographicImageStorage,
    generate_uid,
)

from desktop.core.media_writer import check_output

SOP_CLASSES = {
    "CT": CTImageStorage,
    "MR": MRImageStorage,
    "US": UltrasoundMultiFrameImageStorage,
    "XA": XRayAngiographicImageStorage,
}


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One synthetic series: ``count`` instances of ``frames`` frames each."""

    modality: str
    description: str
    count: int = 1
    rows: int = 64
    columns: int = 64
    frames: int = 1
    color: bool = False
    fps: float = 25.0


@dataclass(frozen=True, slots=True)
class StudySpec:
    patient_id: str
    patient_name: str
    study_date: str
    description: str
    series: tuple[SeriesSpec, ...]
    birth_date: str = "19700101"
    sex: str = "O"
    accession_number: str = ""


DEMO_STUDIES = (
    StudySpec(
        "DEMO-001",
        "Demo^Alice",
        "20260314",
        "CT Chest",
        (SeriesSpec("CT", "Axial 5 mm", count=24, rows=256, columns=256),),
        birth_date="19610203",
        sex="F",
        accession_number="ACC1001",
    ),
    StudySpec(
        "DEMO-001",
        "Demo^Alice",
        "20250102",
        "MR Brain",
        (
            SeriesSpec("MR", "T1 axial", count=12, rows=192, columns=192),
            SeriesSpec("MR", "T2 axial", count=12, rows=192, columns=192),
        ),
        birth_date="19610203",
        sex="F",
        accession_number="ACC0931",
    ),
    StudySpec(
        "DEMO-002",
        "Demo^Bob",
        "20261102",
        "Echocardiogram",
        (SeriesSpec("US", "Cine loop", rows=480, columns=640, frames=60, color=True, fps=30.0),),
        birth_date="19790911",
        sex="M",
        accession_number="ACC1210",
    ),
    StudySpec(
        "DEMO-003",
        "Demo^Carol",
        "20261120",
        "Coronary angiography",
        (SeriesSpec("XA", "Left coronary cine", rows=512, columns=512, frames=48, fps=15.0),),
        birth_date="19550627",
        sex="F",
        accession_number="ACC1288",
    ),
)


def study_datasets(study: StudySpec, uid_root: str | None = None) -> Iterator[Dataset]:
    """Every instance of a synthetic study, ready to write."""
    study_uid = generate_uid(prefix=uid_root)
    for series_number, series in enumerate(study.series, start=1):
        series_uid = generate_uid(prefix=uid_root)
        for number in range(1, series.count + 1):
            yield _instance(study, study_uid, series, series_uid, series_number, number, uid_root)


def cross_referenced_datasets(study: StudySpec) -> list[Dataset]:
    """A study whose instances point at each other as real ones do: one Frame of Reference per
    study, each image referring to the previous one of its series (Referenced Image Sequence),
    each image of a later series derived from the same-numbered image of the first (Source
    Image Sequence, Referenced Series Sequence), a request item naming the patient again, and a
    private block naming the patient (to test de-identification)."""
    datasets = list(study_datasets(study))
    frame_of_reference = generate_uid()
    first: dict[int, Dataset] = {}
    previous: Dataset | None = None
    for dataset in datasets:
        dataset.FrameOfReferenceUID = frame_of_reference
        number = int(dataset.InstanceNumber)
        if int(dataset.SeriesNumber) == 1:
            first[number] = dataset
        elif number in first:
            dataset.SourceImageSequence = [_reference(first[number])]
            series = Dataset()
            series.SeriesInstanceUID = first[number].SeriesInstanceUID
            series.ReferencedInstanceSequence = [_reference(first[number])]
            dataset.ReferencedSeriesSequence = [series]
        if previous is not None and previous.SeriesInstanceUID == dataset.SeriesInstanceUID:
            dataset.ReferencedImageSequence = [_reference(previous)]
        request = Dataset()
        request.RequestedProcedureID = study.accession_number or "RP1"
        request.StudyInstanceUID = dataset.StudyInstanceUID
        request.ReferencedStudySequence = [_reference(dataset, "StudyInstanceUID")]
        dataset.RequestAttributesSequence = [request]
        dataset.OtherPatientIDsSequence = [_other_id(study.patient_id)]
        dataset.private_block(0x0029, "SYNTHETIC VENDOR", create=True).add_new(
            0x10, "LO", study.patient_name
        )
        previous = dataset
    return datasets


def _reference(target: Dataset, uid: str = "SOPInstanceUID") -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = target.SOPClassUID
    item.ReferencedSOPInstanceUID = getattr(target, uid)
    return item


def _other_id(patient_id: str) -> Dataset:
    item = Dataset()
    item.PatientID = f"{patient_id}-OLD"
    item.TypeOfPatientID = "TEXT"
    return item


def write_media(folder: Path, studies: tuple[StudySpec, ...] = DEMO_STUDIES) -> Path:
    """Write the studies as DICOM media with a DICOMDIR (pydicom's FileSet) into a new or
    empty folder; return its path."""
    check_output(folder)
    file_set = FileSet()
    for study in studies:
        for dataset in study_datasets(study):
            file_set.add(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    file_set.write(folder)
    return folder / "DICOMDIR"


def write_files(folder: Path, studies: tuple[StudySpec, ...]) -> list[Path]:
    """Write the studies as plain files (no DICOMDIR), one folder per series; return the paths."""
    paths = []
    for study in studies:
        for dataset in study_datasets(study):
            target = (
                folder / str(dataset.SeriesInstanceUID) / f"{int(dataset.InstanceNumber):05d}.dcm"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(target, enforce_file_format=True)
            paths.append(target)
    return paths


def _instance(
    study: StudySpec,
    study_uid: str,
    series: SeriesSpec,
    series_uid: str,
    series_number: int,
    number: int,
    uid_root: str | None,
) -> Dataset:
    sop_class = SOP_CLASSES[series.modality]
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = sop_class
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    dataset.SOPClassUID = sop_class
    dataset.SOPInstanceUID = generate_uid(prefix=uid_root)
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.PatientName = study.patient_name
    dataset.PatientID = study.patient_id
    dataset.PatientBirthDate = study.birth_date
    dataset.PatientSex = study.sex
    dataset.StudyInstanceUID = study_uid
    dataset.StudyDate = study.study_date
    dataset.StudyTime = "093000"
    dataset.StudyDescription = study.description
    dataset.AccessionNumber = study.accession_number
    dataset.StudyID = "1"
    dataset.ReferringPhysicianName = ""
    dataset.SeriesInstanceUID = series_uid
    dataset.SeriesNumber = series_number
    dataset.SeriesDescription = series.description
    dataset.Modality = series.modality
    dataset.InstanceNumber = number
    dataset.Rows, dataset.Columns = series.rows, series.columns
    if series.frames > 1:
        dataset.NumberOfFrames = series.frames
        dataset.FrameTime = f"{1000.0 / series.fps:.3f}"
        dataset.FrameIncrementPointer = 0x00181063
    if series.color:
        _set_rgb_pixels(dataset, series)
    else:
        _set_grey_pixels(dataset, series, number)
    return dataset


def _set_grey_pixels(dataset: Dataset, series: SeriesSpec, number: int) -> None:
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    if series.modality == "CT":
        dataset.PixelRepresentation = 1
        dataset.RescaleIntercept, dataset.RescaleSlope = "0", "1"
        dataset.RescaleType = "HU"
        dataset.WindowCenter, dataset.WindowWidth = "40", "400"
        dataset.SliceThickness = "5"
        dataset.ImagePositionPatient = [0, 0, 5.0 * number]
        frames = [_ct_phantom(series.rows, series.columns, number / max(series.count, 1))]
        dtype: type[np.generic] = np.int16
    else:
        dataset.PixelRepresentation = 0
        frames = [
            _disc(series.rows, series.columns, i / max(series.frames, 1), number)
            for i in range(series.frames)
        ]
        dtype = np.uint16
    dataset.PixelData = np.stack(frames).astype(dtype).tobytes()


def _set_rgb_pixels(dataset: Dataset, series: SeriesSpec) -> None:
    dataset.SamplesPerPixel = 3
    dataset.PhotometricInterpretation = "RGB"
    dataset.PlanarConfiguration = 0
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    pixels = np.empty((series.frames, series.rows, series.columns, 3), dtype=np.uint8)
    for i in range(series.frames):
        grey = _disc(series.rows, series.columns, i / series.frames, 1) / 16.0
        for channel, colour in enumerate((grey, grey * 0.6, grey * 0.3 + 40 * (grey > 10))):
            np.clip(colour, 0, 255, out=colour)
            pixels[i, :, :, channel] = colour
    dataset.PixelData = pixels.tobytes()


@lru_cache(maxsize=8)
def _grid(rows: int, columns: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Coordinates from -1 to 1 (float32: the demo's media are made at every start)."""
    y = ((np.arange(rows, dtype=np.float32) - rows / 2) / (rows / 2))[:, np.newaxis]
    x = ((np.arange(columns, dtype=np.float32) - columns / 2) / (columns / 2))[np.newaxis, :]
    return np.broadcast_to(y, (rows, columns)), np.broadcast_to(x, (rows, columns))


def _ct_phantom(rows: int, columns: int, depth: float) -> NDArray[np.float32]:
    """A body-like ellipse in HU: fat, soft tissue, lungs, a spine and air around it."""
    y, x = _grid(rows, columns)
    image = np.full((rows, columns), -1000.0, dtype=np.float32)
    body = (x / 0.9) ** 2 + (y / 0.7) ** 2 < 1
    image[body] = -100
    image[(x / 0.82) ** 2 + (y / 0.62) ** 2 < 1] = 40
    lung_size = 0.25 + 0.1 * np.sin(np.pi * depth)
    for side in (-0.4, 0.4):
        image[((x - side) / lung_size) ** 2 + (y / 0.4) ** 2 < 1] = -850
    image[(x / 0.12) ** 2 + ((y - 0.45) / 0.12) ** 2 < 1] = 700
    noise = np.random.default_rng(int(depth * 1000)).normal(0, 8, image.shape)
    return image + noise.astype(np.float32)


def _disc(rows: int, columns: int, phase: float, seed: int) -> NDArray[np.float32]:
    """A bright disc circling the centre, on a gradient: visible motion for a cine."""
    y, x = _grid(rows, columns)
    angle = 2 * np.pi * phase
    cx, cy = 0.45 * np.cos(angle), 0.45 * np.sin(angle)
    image = 600 + 400 * (x + 1) + 300 * seed % 7
    image[((x - cx) ** 2 + (y - cy) ** 2) < 0.04] += 2500
    return image
