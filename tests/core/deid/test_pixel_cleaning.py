"""The parts of burned-in text cleaning that need no OCR: the header's triage, what counts as
identifying text, masking every frame in the stored colour space and writing it back, and the
review file a person edits."""

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pixel_array
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from desktop.core.deid.boxes import Box
from desktop.core.deid.burned_in import Finding, sample_frames
from desktop.core.deid.identifiers import Identifiers
from desktop.core.deid.masking import PixelCleaningError, clean_pixels
from desktop.core.deid.review_file import read_review, write_review
from desktop.core.deid.triage import triage
from desktop.core.errors import CourierError

BOX = Box(2, 3, 20, 10)


def header(**values: object) -> Dataset:
    dataset = Dataset()
    for keyword, value in values.items():
        setattr(dataset, keyword, value)
    return dataset


@pytest.mark.parametrize(
    ("values", "flagged"),
    [
        ({"Modality": "CT", "SOPClassUID": CTImageStorage}, False),
        ({"Modality": "CT", "SOPClassUID": CTImageStorage, "BurnedInAnnotation": "YES"}, True),
        ({"Modality": "US"}, True),
        ({"Modality": "US", "BurnedInAnnotation": "NO"}, False),
        ({"Modality": "OT", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}, True),
        ({"Modality": "CT", "ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]}, True),
        ({"Modality": "ES", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.77.1.1.1"}, True),
    ],
)
def test_triage_by_header(values: dict[str, object], flagged: bool) -> None:
    assert triage(header(**values)).flagged is flagged


def test_known_device_bars_and_ultrasound_regions() -> None:
    region = header(
        RegionLocationMinX0=100,
        RegionLocationMinY0=50,
        RegionLocationMaxX1=539,
        RegionLocationMaxY1=429,
    )
    found = triage(
        header(
            Modality="US",
            Manufacturer="Philips Medical Systems",
            ManufacturerModelName="iU22",
            Rows=480,
            SequenceOfUltrasoundRegions=[region],
        )
    )
    assert found.known == (Box(0, 0, 640, 47),)
    assert found.data_regions == (Box(100, 50, 440, 380),)
    assert "the device has a known annotation bar" in found.reasons
    # A known bar is masked even when the header says there is no annotation.
    assert triage(
        header(
            Modality="US",
            Manufacturer="GE",
            ManufacturerModelName="LOGIQ9",
            BurnedInAnnotation="NO",
        )
    ).known == (Box(0, 0, 640, 30),)


PATIENT = header(
    PatientName="Kowalski^Pieter^J",
    PatientID="MRN0042917",
    PatientBirthDate="19610203",
    StudyDate="20240315",
    AccessionNumber="A7335284",
    InstitutionName="Riverside General Hospital",
)


@pytest.mark.parametrize(
    "text",
    [
        "KOWALSKI PIETER",
        "Kowalski, P",
        "PIETER",
        "ID: MRN0042917",
        "MRN0O42917",  # a misread O for 0
        "03/02/1961",
        "02/03/1961",
        "1961-02-03",
        "03-FEB-1961",
        "2024.03.15 10:22",
        "Acc A7335284",
        "RIVERSIDE GENERAL",
    ],
)
def test_the_files_own_values_are_recognised(text: str) -> None:
    assert Identifiers.of(PATIENT).matches(text)


@pytest.mark.parametrize("text", ["11/12/2019", "DOB", "H57933785", "Name:"])
def test_look_alikes_are_identifying(text: str) -> None:
    identifiers = Identifiers.of(PATIENT)
    assert not identifiers.matches(text) and identifiers.identifying(text)


@pytest.mark.parametrize("text", ["5 cm", "MI 0.8", "TIS 0.4", "GAIN 52", "L12-5", "FR 32Hz", "J"])
def test_harmless_annotations_are_not_identifying(text: str) -> None:
    assert not Identifiers.of(PATIENT).identifying(text)


def test_frames_read_are_first_middle_and_last() -> None:
    assert sample_frames(1) == (0,)
    assert sample_frames(2) == (0, 1)
    assert sample_frames(30) == (0, 15, 29)


def masked_copy(name: str, boxes: list[Box], folder: Path) -> tuple[Dataset, Dataset]:
    path = get_testdata_file(name, download=False)
    assert path is not None
    dataset = dcmread(path)
    clean_pixels(dataset, boxes)
    written = folder / "copy.dcm"
    dataset.save_as(written, enforce_file_format=True)
    return dcmread(path), dcmread(written)


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("SC_rgb_rle_2frame.dcm", RLELossless),
        ("MR_small_jpeg_ls_lossless.dcm", JPEGLSLossless),
        ("US1_J2KR.dcm", JPEG2000Lossless),
        ("SC_rgb.dcm", ExplicitVRLittleEndian),
    ],
)
def test_lossless_pixels_are_masked_and_kept_in_their_syntax(
    name: str, syntax: str, tmp_path: Path
) -> None:
    original, copy = masked_copy(name, [BOX], tmp_path)
    assert copy.file_meta.TransferSyntaxUID == syntax
    assert "LossyImageCompression" not in copy or copy.LossyImageCompression == "00"
    before, after = pixel_array(original), pixel_array(copy)
    frames = int(original.get("NumberOfFrames", 1))
    stack_before = before if frames > 1 else before[np.newaxis]
    stack_after = after if frames > 1 else after[np.newaxis]
    inside = (slice(None), slice(BOX.y, BOX.bottom), slice(BOX.x, BOX.right))
    assert (stack_after[inside] == stack_after[inside].min()).all(), "one fill in every frame"
    untouched = np.ones(stack_after.shape[:3], bool)
    untouched[inside] = False
    assert (stack_before[untouched] == stack_after[untouched]).all(), "nothing else changed"
    assert copy.BurnedInAnnotation == "NO"


def test_lossy_colour_is_masked_in_its_own_colour_space_and_written_uncompressed(
    tmp_path: Path,
) -> None:
    """A JPEG baseline YBR image: masked in YBR (black is 0, 128, 128), written uncompressed
    (re-encoding lossy would lose more) and noted as lossy; the rest keeps its colours."""
    original, copy = masked_copy("SC_rgb_jpeg_dcmtk.dcm", [BOX], tmp_path)
    assert copy.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert copy.LossyImageCompression == "01"
    assert copy.LossyImageCompressionMethod == "ISO_10918_1"
    assert copy.PhotometricInterpretation == "YBR_FULL"
    stored = pixel_array(copy, as_rgb=False)
    assert (stored[BOX.y : BOX.bottom, BOX.x : BOX.right] == (0, 128, 128)).all()
    shown_before, shown_after = pixel_array(original), pixel_array(copy)
    assert (shown_after[BOX.y : BOX.bottom, BOX.x : BOX.right] <= 1).all()  # black on screen
    assert np.abs(shown_before[40:, 40:].astype(int) - shown_after[40:, 40:]).max() <= 1


def test_pixels_that_cannot_be_written_back_are_refused_plainly() -> None:
    path = get_testdata_file("MR_small_bigendian.dcm", download=False)
    with pytest.raises(PixelCleaningError, match="Explicit VR Big Endian cannot be masked"):
        clean_pixels(dcmread(path), [BOX])


def test_the_clean_pixel_code_is_recorded_once() -> None:
    path = get_testdata_file("SC_rgb.dcm", download=False)
    dataset = dcmread(path)
    clean_pixels(dataset, [BOX])
    clean_pixels(dataset, [Box(30, 30, 5, 5)])
    codes = [item.CodeValue for item in dataset.DeidentificationMethodCodeSequence]
    assert codes == ["113101"]


def test_review_file_round_trip_and_its_errors(tmp_path: Path) -> None:
    review = tmp_path / "boxes.json"
    finding = Finding(triage(header(Modality="US")), boxes=(BOX,), frames=(0,))
    assert write_review(review, [(tmp_path / "a.dcm", "1.2.3", finding)]) == 1
    assert read_review(review) == {"1.2.3": (BOX,)}
    document = json.loads(review.read_text())
    document["images"][0]["boxes"] = [[1, 2, 0, 5]]
    review.write_text(json.dumps(document))
    with pytest.raises(CourierError, match=r"image 1 .*width and height above 0"):
        read_review(review)
    review.write_text("{not json")
    with pytest.raises(CourierError, match="is not valid JSON"):
        read_review(review)
    review.write_text("{}")
    with pytest.raises(CourierError, match="is not a review file"):
        read_review(review)
