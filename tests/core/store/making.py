"""Small DICOM files for the store's tests: real Part 10 files, no pixel data."""

from pathlib import Path

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from desktop.core.filing import stored_path

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def dataset(**attributes: object) -> Dataset:
    """A CT instance's data set with fresh UIDs, ``attributes`` set on top (None deletes)."""
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "P1"
    ds.PatientName = "Doe^John"
    ds.Modality = "CT"
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def write(path: Path, ds: Dataset, *, syntax: str = ExplicitVRLittleEndian) -> Path:
    """``ds`` as a Part 10 file at ``path`` (its folders made)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def filed(folder: Path, ds: Dataset, *, syntax: str = ExplicitVRLittleEndian) -> Path:
    """``ds`` written where the listener would file it in ``folder``."""
    target = stored_path(
        folder, str(ds.PatientID), ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )
    return write(target, ds, syntax=syntax)
