"""Frames: one decoded at a time, made display-ready exactly as the standard prescribes."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.pixels.utils import pixel_array
from pydicom.uid import JPEGLSTransferSyntaxes

from desktop.core.decode import decode_frame
from desktop.core.display import Window
from desktop.core.errors import FrameError
from desktop.core.frames import FrameSource
from tests.helpers import pydicom_samples, sample_file

# Every compression pydicom's plugins decode, lossless ones compared exactly.
LOSSLESS = [
    "JPEG-LL.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR2_J2KR.dcm",
    "emri_small_RLE.dcm",
    "SC_rgb_rle_2frame.dcm",
    "OBXXXX1A_rle_2frame.dcm",
    "US1_J2KR.dcm",
    "RG1_J2KR.dcm",
    "SC_rgb_gdcm_KY.dcm",
    "emri_small_big_endian.dcm",
]
LOSSY = [
    "JPEG2000.dcm",
    "MR2_J2KI.dcm",
    "JPGExtended.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "examples_ybr_color.dcm",
    "color3d_jpeg_baseline.dcm",
    "JPEGLSNearLossless_16.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "US1_J2KI.dcm",
]


def reference(path: Path, index: int) -> np.ndarray:
    """pydicom's own decode of one frame, converted to RGB by pydicom."""
    return np.asarray(pixel_array(path, index=index))


@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_frames_match_pydicom_exactly(name: str) -> None:
    path = sample_file(name)
    source = FrameSource(path)
    for index in {0, source.frame_count - 1}:
        assert np.array_equal(source.stored(index), reference(path, index))


@pytest.mark.parametrize("name", LOSSY)
def test_lossy_frames_match_pydicom_within_rounding(name: str) -> None:
    """Pillow's JPEG and YCbCr routines round differently from pydicom's numpy conversion."""
    path = sample_file(name)
    source = FrameSource(path)
    for index in {0, source.frame_count - 1}:
        ours, theirs = source.stored(index).astype(int), reference(path, index).astype(int)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).mean() < 0.5
        assert np.abs(ours - theirs).max() <= 8


def test_ybr_is_converted_once() -> None:
    """pydicom 3 converts YBR itself; converting again would tint the picture."""
    path = sample_file("SC_ybr_full_uncompressed.dcm")
    rgb = FrameSource(path).display(0)
    expected = pydicom.dcmread(sample_file("SC_rgb.dcm")).pixel_array
    difference = np.abs(rgb.astype(int) - expected.astype(int))
    assert difference.mean() < 1 and difference.max() <= 8  # YBR's own rounding; twice: ~100


def test_only_the_requested_frame_is_decoded() -> None:
    path = sample_file("emri_small.dcm")
    everything = pydicom.dcmread(path).pixel_array
    source = FrameSource(path)
    assert source.frame_count == 10
    assert np.array_equal(source.stored(7), everything[7])


def test_window_follows_the_linear_function() -> None:
    source = FrameSource(sample_file("CT_small.dcm"))
    stored = source.stored(0)
    hounsfield = apply_modality_lut(stored, source.dataset)
    shown = source.display(0, Window(40, 400))
    assert (shown[hounsfield <= 40 - 0.5 - 199.5] == 0).all()
    assert (shown[hounsfield > 40 - 0.5 + 199.5] == 255).all()
    inside = (hounsfield > -150) & (hounsfield < 230)
    expected = np.clip(((hounsfield - 39.5) / 399 + 0.5), 0, 1) * 255
    assert np.abs(shown[inside] - expected[inside]).max() <= 0.5


def test_file_window_is_the_default() -> None:
    source = FrameSource(sample_file("MR2_UNCR.dcm"))
    assert source.default_window is not None
    assert np.array_equal(source.display(0), source.display(0, source.default_window))


def test_automatic_window_spans_the_frame() -> None:
    source = FrameSource(sample_file("emri_small.dcm"))
    assert source.default_window is None
    shown = source.display(0)
    assert (shown.min(), shown.max()) == (0, 255)


def test_monochrome1_is_inverted() -> None:
    source = FrameSource(sample_file("RG1_UNCR.dcm"))
    window = source.default_window
    assert window is not None
    stored = source.stored(0)
    normal = np.clip((stored - (window.center - 0.5)) / (window.width - 1) + 0.5, 0, 1) * 255
    assert np.abs(source.display(0).astype(float) - (255 - normal)).max() <= 0.5


def test_voi_lut_sequence_is_applied() -> None:
    path = sample_file("vlut_04.dcm")
    source = FrameSource(path)
    dataset = pydicom.dcmread(path)
    values = apply_voi_lut(dataset.pixel_array, dataset).astype(float)
    span = (values.max() - values.min()) or 1
    shown = source.display(0).astype(float)
    assert np.corrcoef(shown.ravel(), values.ravel())[0, 1] > 0.999
    assert shown.max() - shown.min() <= 255 * (values.max() - values.min()) / span


def test_modality_lut_sequence_is_applied() -> None:
    path = sample_file("mlut_18.dcm")
    source = FrameSource(path)
    modality = apply_modality_lut(source.stored(0), source.dataset)
    shown = source.display(0, Window(float(np.median(modality)), 200))
    assert shown.min() == 0 and shown.max() == 255


def test_palette_colour_uses_the_lut() -> None:
    path = sample_file("OBXXXX1A.dcm")
    dataset = pydicom.dcmread(path)
    expected = apply_color_lut(dataset.pixel_array, dataset) / 257.0
    shown = FrameSource(path).display(0)
    assert shown.shape == (*dataset.pixel_array.shape, 3)
    assert np.abs(shown - expected).max() <= 1


@pytest.mark.parametrize("name", ["SC_rgb_16bit.dcm", "SC_rgb_32bit_2frame.dcm"])
def test_deep_rgb_is_scaled_to_8_bits(name: str) -> None:
    path = sample_file(name)
    shown = FrameSource(path).display(0)
    assert shown.dtype == np.uint8 and shown.shape[-1] == 3
    assert shown.max() >= 250  # full brightness survives the scaling


@pytest.mark.parametrize(
    ("name", "bits"), [("JPEGLSNearLossless_08.dcm", 8), ("MR2_UNCR.dcm", 12), ("693_UNCR.dcm", 14)]
)
def test_grey_depths_and_signed_pixels(name: str, bits: int) -> None:
    source = FrameSource(sample_file(name))
    assert (source.dataset.BitsStored, source.is_grey) == (bits, True)
    shown = source.display(0)
    assert shown.dtype == np.uint8 and shown.shape == (source.rows, source.columns)
    assert shown.max() > shown.min()


def test_enhanced_object_window_comes_from_functional_groups() -> None:
    source = FrameSource(sample_file("eCT_Supplemental.dcm"))
    assert source.default_window is not None
    assert source.display(1).shape == (source.rows, source.columns)


def test_frame_out_of_range() -> None:
    source = FrameSource(sample_file("emri_small.dcm"))
    with pytest.raises(FrameError, match=r"frame 11 is out of range: .* has 10 frames \(1 to 10\)"):
        source.display(10)
    with pytest.raises(FrameError, match="out of range"):
        source.display(-1)


def test_file_without_pixel_data() -> None:
    with pytest.raises(FrameError, match="has no pixel data"):
        FrameSource(sample_file("rtplan.dcm"))


def test_truncated_pixel_data_says_so() -> None:
    source = FrameSource(sample_file("MR_truncated.dcm"))
    with pytest.raises(FrameError, match="truncated: the file ends at byte"):
        source.display(0)


def test_decode_frame_returns_rgb_for_ybr_jpeg() -> None:
    path = sample_file("color3d_jpeg_baseline.dcm")
    syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    frame = decode_frame(path, 3, syntax, 8)
    assert np.abs(frame.astype(int) - reference(path, 3)).mean() < 0.5


def jpeg_ls(path: Path) -> bool:
    syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    return syntax in JPEGLSTransferSyntaxes


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "path",
    [*pydicom_samples(jpeg_ls), sample_file("emri_small_jpeg_ls_lossless.dcm")],
    ids=lambda p: p.name,
)
def test_charls_decodes_jpeg_ls_exactly_as_libjpeg(path: Path) -> None:
    """CharLS (pyjpegls) replaced pylibjpeg-libjpeg for JPEG-LS: not one value may change."""
    source = FrameSource(path)
    assert source.frame_count >= 1
    for index in range(source.frame_count):
        libjpeg = pixel_array(path, index=index, decoding_plugin="pylibjpeg")
        assert np.array_equal(source.stored(index), libjpeg)


def decodable_and_compressed(path: Path) -> bool:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    if not dataset.file_meta.TransferSyntaxUID.is_compressed:
        return False
    pixel_array(path, index=0)
    return True


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", pydicom_samples(decodable_and_compressed), ids=lambda p: p.name)
def test_every_compressed_sample_decodes_like_pydicom(path: Path) -> None:
    source = FrameSource(path)
    ours, theirs = source.stored(0).astype(int), reference(path, 0).astype(int)
    assert ours.shape == theirs.shape
    difference = np.abs(ours - theirs)  # Pillow and pydicom round YCbCr differently by 1
    assert difference.mean() <= 1 and difference.max() <= 8
    assert source.display(0).dtype == np.uint8
