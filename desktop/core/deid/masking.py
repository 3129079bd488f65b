"""Mask boxes in every frame of a data set's pixels, in the colour space they are stored in
(never converted, so never recoloured), and write them back: in the original transfer syntax
when it is lossless and can be encoded here, else uncompressed, with Lossy Image Compression
saying the pixels were lossy before. Then record the Clean Pixel Data option.
"""

import logging
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pixel_array
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from desktop.core.deid.boxes import Box
from desktop.core.errors import CourierError

log = logging.getLogger(__name__)
CLEAN_PIXEL_CODE = ("113101", "Clean Pixel Data Option")
#: Explicit VR Big Endian (retired) is left out: pydicom writes new pixels little endian only.
NATIVE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})
#: Lossless compressed syntaxes pydicom can encode again with the installed plugins.
ENCODABLE = frozenset({RLELossless, JPEGLSLossless, JPEG2000Lossless})
#: Lossless syntaxes with no encoder here: written uncompressed, which loses nothing either.
LOSSLESS = frozenset(
    {
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Non-Hierarchical (Process 14)
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless, First-Order Prediction
        "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
        "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    }
)
#: Lossy Image Compression Method (0028,2114) of each lossy syntax (PS3.3 C.7.6.1.1.5.1).
LOSSY_METHODS = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",
    "1.2.840.10008.1.2.4.203": "ISO_15444_15",
}
YBR_BLACK = (0, 128, 128)
DECODED_AS_RGB = frozenset({"YBR_RCT", "YBR_ICT"})


class PixelCleaningError(CourierError):
    """The pixels cannot be decoded, masked or written again."""


def clean_pixels(dataset: Dataset, boxes: Sequence[Box]) -> None:
    """Fill ``boxes`` with black in every frame and record it (Burned In Annotation NO, the
    Clean Pixel Data Option code); the data set keeps its SOP Instance UID."""
    syntax = UID(str(dataset.file_meta.TransferSyntaxUID))
    if int(dataset.get("BitsAllocated", 8)) == 1:
        raise PixelCleaningError("1-bit pixels cannot be masked here")
    if syntax not in NATIVE | ENCODABLE | LOSSLESS and syntax not in LOSSY_METHODS:
        raise PixelCleaningError(
            f"pixels in {syntax.name} cannot be masked here (no encoder for it)"
        )
    colour = Dataset()
    try:
        frames = np.array(pixel_array(dataset, as_rgb=False, ds_out=colour))
    except Exception as error:  # decoder plugins raise anything on a damaged stream
        raise PixelCleaningError(f"its pixels cannot be decoded: {error}") from error
    photometric = str(colour.get("PhotometricInterpretation", dataset.PhotometricInterpretation))
    if photometric in DECODED_AS_RGB:
        photometric = "RGB"  # the JPEG 2000 decoder undoes the colour transform itself
    multi = int(dataset.get("NumberOfFrames", 1) or 1) > 1
    stack = frames if multi else frames[np.newaxis]
    fill = _black(stack, photometric)
    rows, columns = stack.shape[1], stack.shape[2]
    for box in boxes:
        inside = box.clipped(columns, rows)
        if inside is not None:
            stack[:, inside.y : inside.bottom, inside.x : inside.right] = fill
    _write(dataset, frames, syntax, photometric)
    _record(dataset)


def _black(stack: NDArray[np.generic], photometric: str) -> object:
    """The stored value shown darkest: without converting the colour space."""
    if photometric.startswith("YBR") and stack.dtype == np.uint8:
        return np.array(YBR_BLACK, np.uint8)
    if stack.ndim == 4:  # RGB
        return 0
    return stack.max() if photometric == "MONOCHROME1" else stack.min()


def _write(dataset: Dataset, frames: NDArray[np.generic], syntax: UID, photometric: str) -> None:
    bits_stored = int(dataset.get("BitsStored", frames.dtype.itemsize * 8))
    if syntax in ENCODABLE:
        try:
            dataset.PhotometricInterpretation = photometric
            dataset.compress(syntax, frames, generate_instance_uid=False)
            return
        except Exception as error:  # an encoder refusing this layout: uncompressed is lossless
            log.info("cannot encode the masked pixels in %s (%s): uncompressed", syntax.name, error)
    if syntax in LOSSY_METHODS:
        dataset.LossyImageCompression = "01"
        if "LossyImageCompressionMethod" not in dataset:
            dataset.LossyImageCompressionMethod = LOSSY_METHODS[syntax]
    dataset.set_pixel_data(frames, photometric, bits_stored, generate_instance_uid=False)


def _record(dataset: Dataset) -> None:
    dataset.BurnedInAnnotation = "NO"
    codes = dataset.get("DeidentificationMethodCodeSequence")
    if codes is None:
        codes = dataset.DeidentificationMethodCodeSequence = DicomSequence()
    if any(item.get("CodeValue") == CLEAN_PIXEL_CODE[0] for item in codes):
        return
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator = CLEAN_PIXEL_CODE[0], "DCM"
    item.CodeMeaning = CLEAN_PIXEL_CODE[1]
    codes.append(item)
    method = dataset.get("DeidentificationMethod")
    values = [] if method is None else list(method) if not isinstance(method, str) else [method]
    dataset.DeidentificationMethod = [*values, CLEAN_PIXEL_CODE[1]]
