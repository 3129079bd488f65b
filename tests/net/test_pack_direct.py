"""JPEG-LS straight from the file's bytes (no pydicom on the way) gives exactly the data set
pydicom's ``Dataset.compress`` gives, and leaves every other layout to pydicom."""

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEGLSLossless

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.compression import JPEG_LS_LOSSLESS, _jpeg_ls_direct, pack
from desktop.net.encoding import encode


def through_pydicom(path: Path) -> bytes:
    dataset = pydicom.dcmread(path)
    dataset.compress(JPEG_LS_LOSSLESS, encoding_plugin="pyjpegls", generate_instance_uid=False)
    return encode(dataset, JPEG_LS_LOSSLESS)


def decoded(data: bytes, source: Path) -> np.ndarray:
    dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    dataset.file_meta = pydicom.dcmread(source, stop_before_pixels=True).file_meta
    dataset.file_meta.TransferSyntaxUID = JPEGLSLossless
    return dataset.pixel_array


@pytest.fixture
def layouts(tmp_path: Path) -> dict[str, Path]:
    study = StudySpec(
        "D",
        "Direct^Pack",
        "20250101",
        "direct",
        (
            SeriesSpec("CT", "signed 12 of 16 bits", count=1, rows=64, columns=48),
            SeriesSpec("XA", "cine", count=1, rows=40, columns=32, frames=3),
            SeriesSpec("US", "RGB", count=1, rows=24, columns=16, color=True),
        ),
    )
    ct, cine, rgb = write_files(tmp_path, (study,))
    grey = pydicom.dcmread(ct)
    grey.BitsAllocated, grey.BitsStored, grey.HighBit, grey.PixelRepresentation = 8, 8, 7, 0
    grey.PixelData = (np.arange(64 * 48) % 251).astype(np.uint8).tobytes()
    grey.save_as(tmp_path / "grey8.dcm", enforce_file_format=True)
    return {"ct": ct, "cine": cine, "rgb": rgb, "grey8": tmp_path / "grey8.dcm"}


@pytest.mark.parametrize("name", ["ct", "cine", "grey8"])
def test_grey_images_match_pydicom_byte_for_byte(layouts: dict[str, Path], name: str) -> None:
    source = layouts[name]
    direct = _jpeg_ls_direct(source.read_bytes())
    assert direct is not None
    assert direct == through_pydicom(source)
    assert np.array_equal(decoded(direct, source), pydicom.dcmread(source).pixel_array)


def test_colour_goes_through_pydicom(layouts: dict[str, Path]) -> None:
    source = layouts["rgb"]
    assert _jpeg_ls_direct(source.read_bytes()) is None
    packed = pack(str(source), 0, "", JPEG_LS_LOSSLESS)
    assert packed.data is not None
    assert np.array_equal(decoded(packed.data, source), pydicom.dcmread(source).pixel_array)
