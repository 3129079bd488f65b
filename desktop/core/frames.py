"""One instance's frames, decoded one at a time and made display-ready."""

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from desktop.core.cine import cine_rate
from desktop.core.decode import decode_frame, native_layout, read_native_frame
from desktop.core.display import ColorKind, DisplayPipeline, Rendered, Window
from desktop.core.errors import FrameError, HeaderError
from desktop.core.header import read_header
from desktop.core.integrity import pixel_data_defect
from desktop.core.values import integer_value, text_value

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
            header = read_header(self.path, ())
            self.dataset = dcmread(self.path, stop_before_pixels=True)
        except (HeaderError, InvalidDicomError, EOFError, ValueError, OSError) as error:
            raise FrameError(f"{self.path.name} cannot be read as DICOM: {error}") from error
        if header.pixel_data is None:
            raise FrameError(f"{self.path.name} has no pixel data (it is not an image)")
        self.defect = pixel_data_defect(header)
        self.transfer_syntax_uid = header.transfer_syntax_uid
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

    @property
    def is_grey(self) -> bool:
        return self.pipeline.kind is ColorKind.GREY

    @property
    def default_window(self) -> Window | None:
        """The window the file recommends (None: VOI LUT or automatic)."""
        return self.pipeline.file_window

    def check_index(self, index: int) -> None:
        """Raise FrameError unless 0 <= index < frame_count."""
        if not 0 <= index < self.frame_count:
            raise FrameError(
                f"frame {index} is out of range: {self.path.name} has {self.frame_count} "
                f"frame{'s' if self.frame_count != 1 else ''} (0 to {self.frame_count - 1})"
            )

    def stored(self, index: int) -> NDArray[np.generic]:
        """Frame ``index`` as decoded stored values (RGB for colour data)."""
        self.check_index(index)
        try:
            if self.native is not None:
                return read_native_frame(self.path, self.native, index)
            frame = decode_frame(self.path, index, self.transfer_syntax_uid, self.bits_allocated)
        except Exception as error:  # decoders raise anything from ValueError to RuntimeError
            reason = self.defect or str(error)
            raise FrameError(
                f"frame {index} of {self.path.name} cannot be decoded: {reason}"
            ) from error
        return frame

    def display(self, index: int, window: Window | None = None) -> NDArray[np.uint8]:
        """Frame ``index`` as uint8 grey (rows, columns) or RGB (rows, columns, 3)."""
        return self.pipeline.to_uint8(self.stored(index), window)

    def render(self, index: int, window: Window | None = None) -> Rendered:
        """Frame ``index`` ready to show, with the window it was drawn with."""
        return self.pipeline.render(self.stored(index), window)

    def min_max_window(self, index: int) -> Window | None:
        """A window spanning frame ``index``'s values (None for colour images)."""
        return self.pipeline.auto_window(self.stored(index)) if self.is_grey else None
