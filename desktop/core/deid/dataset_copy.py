"""The data set path of a copy: the file read with pydicom, ``Profile.deidentify`` on its data
set, then written from the header alone (``passthrough``) or whole (pixels cleaned, or a file
``passthrough`` cannot split)."""

import mmap
import struct
from pathlib import Path
from typing import BinaryIO

from pydicom import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence

from desktop.core.deid.batch import Protect, read_instance
from desktop.core.deid.masking import clean_pixels
from desktop.core.deid.passthrough import Source, split, write
from desktop.core.deid.pixels import PixelPolicy
from desktop.core.deid.profile import Profile
from desktop.core.errors import CourierError


def masked(
    source: Path, profile: Profile, protect: Protect | None, pixels: PixelPolicy
) -> Dataset | None:
    """``source`` de-identified with its burned-in text masked; None when none was found."""
    dataset = read_instance(source)
    boxes = pixels.boxes(source, dataset)  # found from the original header and pixels
    if not boxes:
        return None
    _deidentify(dataset, profile, protect)
    clean_pixels(dataset, boxes)
    return dataset


def deidentified(
    source: Path, data: mmap.mmap, profile: Profile, protect: Protect | None
) -> tuple[Dataset, Source | None]:
    """``source``'s data set de-identified, and its header split from the pixels when it
    can be (None: read whole)."""
    header = _read(source, data)
    dataset = header.dataset if header is not None else read_instance(source)
    if "SOPInstanceUID" not in dataset:
        raise CourierError(f"{source} has no SOP Instance UID: not a DICOM instance")
    _deidentify(dataset, profile, protect)
    return dataset, header


def write_copy(out: BinaryIO, dataset: Dataset, header: Source | None) -> None:
    """Write the copy ``deidentified`` made."""
    if header is not None:
        write(out, header)
    else:
        dataset.save_as(out, enforce_file_format=True)


def _deidentify(dataset: Dataset, profile: Profile, protect: Protect | None) -> None:
    if protect is None:
        profile.deidentify(dataset)
        return
    originals = Dataset()
    profile.deidentify(dataset, originals=originals)
    # an earlier run's sequence was removed (its originals are in ``originals``): one item
    dataset.EncryptedAttributesSequence = Sequence([protect(originals)])


def _read(source: Path, data: mmap.mmap) -> Source | None:
    """The header and where the pixels are (see ``passthrough.split``)."""
    try:
        return split(data)
    except (InvalidDicomError, EOFError, ValueError, struct.error) as error:
        raise CourierError(f"{source} is not a readable DICOM file ({error})") from None
