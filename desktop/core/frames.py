"""One instance's frames, decoded one at a time and made display-ready.

pydicom and its decoder plugins raise almost anything on a malformed file (RecursionError,
NotImplementedError, struct.error, zlib.error, a Rust panic ...). This module is their
boundary: each failure leaves it as a FrameError that names the file and the frame. Before
pydicom sees a file, our own header reader checks it (nesting, VRs, truncation), a decoded
frame may not exceed MAX_FRAME_BYTES, and a deflated data set is inflated, in bounded steps,
to no more than its image needs.
"""

import io
import logging
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.encaps import get_frame
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000TransferSyntaxes

from desktop.core.cine import cine_rate
from desktop.core.decode import decode_frame, native_layout, read_native_frame
from desktop.core.display import ColorKind, DisplayPipeline, Rendered, Window
from desktop.core.errors import FrameError, HeaderError
from desktop.core.header import (
    DEFLATED_SYNTAXES,
    MAX_INFLATED_HEADER,
    Header,
    inflate_dataset,
    read_header,
)
from desktop.core.integrity import expected_native_length, pixel_data_defect
from desktop.core.tags import tag
from desktop.core.values import integer_value, text_value
from desktop.core.words import counted

log = logging.getLogger(__name__)
_Drawn = TypeVar("_Drawn")

JP2_SIGNATURE = b"\x00\x00\x00\x0c\x6a\x50\x20\x20"  # a JP2 file's first box
MAX_FRAME_BYTES = 256 << 20  # a decoded frame larger than this is refused, not allocated
FRAME_TAGS = frozenset(
    tag(k) for k in ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "NumberOfFrames")
)
PIXEL_DATA = 0x7FE00010
LAYOUT_KEYWORDS = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "SamplesPerPixel",
    "NumberOfFrames",
    "PixelRepresentation",
)


class FrameSource:
    """Frame count and frame i of one file, decoding only that frame (never the whole cine)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            header = read_header(self.path, FRAME_TAGS)
        except HeaderError as error:
            raise FrameError(f"{self.path.name} cannot be read as DICOM: {error}") from error
        if header.pixel_data is None:
            raise FrameError(f"{self.path.name} has no pixel data (it is not an image)")
        self.defect = pixel_data_defect(header)
        self._pixel_offset = header.pixel_data.value_offset
        self.transfer_syntax_uid = header.transfer_syntax_uid
        self._inflated = (
            self._inflate(header) if header.transfer_syntax_uid in DEFLATED_SYNTAXES else None
        )
        try:  # pydicom's reader and value conversions: the boundary described above
            self.dataset = dcmread(self._open(), stop_before_pixels=True)
            self.bits_allocated = integer_value(self.dataset, "BitsAllocated") or 8
            self.frame_count = integer_value(self.dataset, "NumberOfFrames") or 1
            self.rows = integer_value(self.dataset, "Rows") or 0
            self.columns = integer_value(self.dataset, "Columns") or 0
            self.photometric = text_value(self.dataset, "PhotometricInterpretation")
            self.fps = cine_rate(self.dataset)
            self.pipeline = DisplayPipeline(self.dataset)
            self.native = (
                native_layout(
                    header.transfer_syntax_uid,
                    header.pixel_data.value_offset,
                    header.pixel_data.length,
                    {k: integer_value(self.dataset, k) for k in LAYOUT_KEYWORDS},
                )
                if header.pixel_data.tag == PIXEL_DATA and self.defect is None
                else None
            )
        except Exception as error:
            log.debug("pydicom cannot read %s", self.path, exc_info=True)
            raise FrameError(f"{self.path.name} cannot be read as DICOM: {error}") from error
        self._check_frame_size()

    def _inflate(self, header: Header) -> bytes:
        """The file as explicit VR little endian, its deflated data set inflated in memory."""
        limit = (expected_native_length(header) or 0) + MAX_INFLATED_HEADER
        try:
            dataset = inflate_dataset(header, limit)
        except HeaderError as error:
            raise FrameError(f"{self.path.name} cannot be read as DICOM: {error}") from error
        return _explicit_little_meta() + dataset

    def _open(self) -> Path | BinaryIO:
        """What pydicom reads: the file, or its inflated copy."""
        return self.path if self._inflated is None else io.BytesIO(self._inflated)

    def _check_frame_size(self) -> None:
        samples = integer_value(self.dataset, "SamplesPerPixel") or 1
        size = self.rows * self.columns * max(samples, 1) * ((self.bits_allocated + 7) // 8)
        if size > MAX_FRAME_BYTES:
            raise FrameError(
                f"{self.path.name} claims frames of {self.columns}×{self.rows} × {samples} "
                f"samples × {self.bits_allocated} bits ({size >> 20} MB): more than the "
                f"{MAX_FRAME_BYTES >> 20} MB a frame may have"
            )

    @property
    def is_grey(self) -> bool:
        return self.pipeline.kind is ColorKind.GREY

    @property
    def default_window(self) -> Window | None:
        """The window the file recommends (None: VOI LUT or automatic)."""
        return self.pipeline.file_window

    def check_index(self, index: int) -> None:
        """Raise FrameError unless 0 <= index < frame_count (said counting from 1, as DICOM,
        the viewer and ``export --frame`` count)."""
        if not 0 <= index < self.frame_count:
            raise FrameError(
                f"frame {index + 1} is out of range: {self.path.name} has "
                f"{counted(self.frame_count, 'frame')} (1 to {self.frame_count})"
            )

    def stored(self, index: int) -> NDArray[np.generic]:
        """Frame ``index`` as decoded stored values (RGB for colour data)."""
        self.check_index(index)
        try:
            if self.native is not None:
                return read_native_frame(self.path, self.native, index)
            if self.transfer_syntax_uid in JPEG2000TransferSyntaxes:
                self._check_jp2_boxes(index)
            frame = decode_frame(self._open(), index, self.transfer_syntax_uid, self.bits_allocated)
        except Exception as error:  # decoders raise anything from ValueError to RuntimeError
            reason = self.defect or str(error)
            raise FrameError(
                f"frame {index + 1} of {self.path.name} cannot be decoded: {reason}"
            ) from error
        return frame

    def _check_jp2_boxes(self, index: int) -> None:
        """pydicom 3.0 walks a JP2 header's boxes by their lengths, forever when one is 0:
        refuse such a frame before it does."""
        with self.path.open("rb") as handle:
            handle.seek(self._pixel_offset)
            codestream = get_frame(handle, index, number_of_frames=self.frame_count)
        if not codestream.startswith(JP2_SIGNATURE):
            return
        offset = 12
        while offset < len(codestream):
            length = int.from_bytes(codestream[offset : offset + 4], "big")
            if codestream[offset + 4 : offset + 8] == b"jp2c":
                return
            if length == 0:
                raise FrameError(f"its JP2 header has a box of length 0 at byte {offset}")
            offset += length

    def display(self, index: int, window: Window | None = None) -> NDArray[np.uint8]:
        """Frame ``index`` as uint8 grey (rows, columns) or RGB (rows, columns, 3)."""
        return self._drawn(index, lambda stored: self.pipeline.to_uint8(stored, window))

    def render(self, index: int, window: Window | None = None) -> Rendered:
        """Frame ``index`` ready to show, with the window it was drawn with."""
        return self._drawn(index, lambda stored: self.pipeline.render(stored, window))

    def _drawn(self, index: int, draw: Callable[[NDArray[Any]], _Drawn]) -> _Drawn:
        stored = self.stored(index)
        try:  # pydicom's LUT functions on the file's (possibly malformed) LUTs and windows
            return draw(stored)
        except Exception as error:
            log.debug("cannot display frame %d of %s", index, self.path, exc_info=True)
            raise FrameError(
                f"frame {index + 1} of {self.path.name} cannot be displayed: {error}"
            ) from error

    def min_max_window(self, index: int) -> Window | None:
        """A window spanning frame ``index``'s values (None for colour images)."""
        return self.pipeline.auto_window(self.stored(index)) if self.is_grey else None


def _explicit_little_meta() -> bytes:
    """A preamble and the one file meta element pydicom needs: Explicit VR Little Endian."""
    syntax = ExplicitVRLittleEndian.encode() + b"\0"
    element = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", len(syntax)) + syntax
    group_length = struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(element))
    return b"\0" * 128 + b"DICM" + group_length + element
