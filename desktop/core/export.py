"""Export a frame as PNG, or a cine (a multi-frame instance or a series' stack) as H.264 MP4.

Outputs are written atomically, so a failed or cancelled export never leaves a half-written file
under the requested name.
"""

import re
from collections.abc import Generator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image, PngImagePlugin

from desktop.core.display import Window
from desktop.core.errors import ExportError
from desktop.core.files import atomic_output, public_mode
from desktop.core.frames import FrameSource

SIGNED_OFFSET = 32768
MAX_FPS = 240  # what players and H.264's levels handle; the viewer's cine goes as far
SUFFIXES = {"PNG": (".png",), "MP4": (".mp4", ".m4v")}
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Frames(Protocol):
    """What a video is made of: a FrameSource (one instance) or a Stack (a series)."""

    @property
    def frame_count(self) -> int: ...

    @property
    def rows(self) -> int: ...

    @property
    def columns(self) -> int: ...

    @property
    def fps(self) -> float: ...

    def display(self, index: int, window: Window | None = None) -> NDArray[np.uint8]: ...


@dataclass(frozen=True, slots=True)
class ExportProgress:
    """Frames written so far out of the total."""

    done: int
    total: int


def suggested_name(*parts: object, suffix: str) -> str:
    """A file name from patient and series parts ('Demo_Alice-S1-CT-Axial_5_mm.png'): what
    the user sees, safe on every file system; empty parts are left out."""
    words = [UNSAFE.sub("_", str(part)).strip("_.") for part in parts if part is not None]
    stem = "-".join(word for word in words if word)[:120] or "image"
    return stem + suffix


def export_png(
    source: FrameSource,
    target: Path,
    *,
    frame: int = 0,
    window: Window | None = None,
    stored_16bit: bool = False,
) -> Path:
    """Write one frame as PNG: 8-bit as displayed, or 16-bit grey keeping the stored values.

    Signed stored values are shifted by +32768 into the 16-bit range; the PNG's text chunks
    record that offset and the rescale slope and intercept, so the values can be recovered.
    """
    source.check_index(frame)
    _check_suffix(target, "PNG")
    if stored_16bit:
        image, info = _stored_16bit_image(source, frame)
    else:
        image, info = Image.fromarray(source.display(frame, window)), None
    with atomic_output(target, ".png", public_mode()) as temporary:
        try:
            image.save(temporary, format="PNG", pnginfo=info)
        except OSError as error:
            raise ExportError(f"cannot write {target}: {error}") from error
    return target


def _stored_16bit_image(
    source: FrameSource, frame: int
) -> tuple[Image.Image, PngImagePlugin.PngInfo]:
    if not source.is_grey:
        raise ExportError("16-bit PNG export keeps stored grey values; this image is colour")
    stored = source.stored(frame)
    offset = SIGNED_OFFSET if stored.dtype.kind == "i" else 0
    if stored.dtype.itemsize > 2 and (stored.min() + offset < 0 or stored.max() + offset > 65535):
        raise ExportError("the stored values do not fit a 16-bit PNG")
    values = (stored.astype(np.int64) + offset).astype(np.uint16)
    info = PngImagePlugin.PngInfo()
    info.add_text("StoredValueOffset", str(offset))
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        if keyword in source.dataset:
            info.add_text(keyword, str(source.dataset.get(keyword)))
    return Image.fromarray(values), info


def export_mp4(
    source: Frames,
    target: Path,
    *,
    fps: float | None = None,
    window: Window | None = None,
) -> Generator[ExportProgress, None, Path]:
    """Encode every frame as H.264 (yuv420p), yielding progress. Smaller images of a stack
    and odd sizes are padded with black to the largest, even, size.

    Stop iterating to cancel: the partial output is removed.
    """
    import av  # PyAV (FFmpeg) costs ~0.1 s to import: only when a video is made, not at start-up

    rate = fps or source.fps
    if not 0 < rate <= MAX_FPS:
        raise ExportError(
            f"a video plays 0 to {MAX_FPS} frames per second, not {rate:g}: choose another rate"
        )
    if source.frame_count < 1:
        raise ExportError("there is no image to put in a video")
    _check_suffix(target, "MP4")
    with atomic_output(target, ".mp4", public_mode()) as temporary:
        try:
            container = av.open(str(temporary), mode="w", format="mp4")
        except (OSError, av.FFmpegError) as error:
            raise ExportError(f"cannot write {target}: {error}") from error
        with container:
            stream = container.add_stream("libx264", rate=_as_fraction(rate))
            stream.width, stream.height = _even(source.columns), _even(source.rows)
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "18"}
            for index in range(source.frame_count):
                picture = _padded(source.display(index, window), stream.height, stream.width)
                layout = "rgb24" if picture.ndim == 3 else "gray"
                container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format=layout)))
                yield ExportProgress(index + 1, source.frame_count)
            container.mux(stream.encode(None))
    return target


def _check_suffix(target: Path, kind: str) -> None:
    """A file named for another format would open in the wrong program, or in none."""
    if target.suffix.lower() not in SUFFIXES[kind]:
        raise ExportError(f"{target.name}: {kind} files end in {' or '.join(SUFFIXES[kind])}")


def _as_fraction(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def _even(size: int) -> int:
    return size + (size % 2)


def _padded(picture: NDArray[np.uint8], height: int, width: int) -> NDArray[np.uint8]:
    """The picture padded with black at the bottom and right to the video's size."""
    pad_rows, pad_columns = height - picture.shape[0], width - picture.shape[1]
    if pad_rows < 0 or pad_columns < 0:
        raise ExportError(
            f"an image is {picture.shape[1]}×{picture.shape[0]}, larger than the "
            f"{width}×{height} its header announced"
        )
    if not pad_rows and not pad_columns:
        return np.ascontiguousarray(picture)
    padding = [(0, pad_rows), (0, pad_columns)] + [(0, 0)] * (picture.ndim - 2)
    return np.pad(picture, padding)
