"""A series as a stack of images, in the order a radiologist scrolls through them.

Slices are sorted by Image Position (Patient) projected on the slice normal (the cross product
of the Image Orientation's row and column cosines) when every slice has both and they share one
orientation; otherwise by Instance Number. The geometric order is turned, if needed, so that
instance numbers still increase along it (scanners number head to feet or feet to head; the
viewer keeps the scanner's direction). Each frame of a multi-frame instance is one image.
"""

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from desktop.core.cine import DEFAULT_FPS
from desktop.core.display import Rendered, Window
from desktop.core.errors import ExportError, FrameError
from desktop.core.frames import FrameSource
from desktop.core.model import Instance, MediaTree, Series, frames_of, one_copy_each
from desktop.core.words import counted

ORIENTATION_TOLERANCE = 1e-3
OPEN_SOURCES = 16  # FrameSources kept open: headers parsed once while scrolling back and forth


def slice_order(instances: Sequence[Instance]) -> list[Instance]:
    """The instances of one series in stack order (see the module's docstring)."""
    by_number = sorted(
        instances,
        key=lambda i: (i.instance_number is None, i.instance_number or 0, str(i.path or "")),
    )
    normal = _common_normal(by_number)
    if normal is None:
        return by_number
    along = sorted(by_number, key=lambda i: float(np.dot(normal, i.image_position or ())))
    numbers = [i.instance_number for i in along]
    if None not in numbers and len(along) > 1 and numbers[0] > numbers[-1]:  # type: ignore[operator]
        along.reverse()
    return along


def _common_normal(instances: Sequence[Instance]) -> NDArray[np.float64] | None:
    """The slice normal shared by every instance, or None when one lacks geometry or differs."""
    normal: NDArray[np.float64] | None = None
    for instance in instances:
        if instance.image_position is None or instance.image_orientation is None:
            return None
        row = np.array(instance.image_orientation[:3])
        column = np.array(instance.image_orientation[3:])
        this = np.cross(row, column)
        length = float(np.linalg.norm(this))
        if length < ORIENTATION_TOLERANCE:
            return None
        this = this / length
        if normal is None:
            normal = this
        elif float(np.abs(normal - this).max()) > ORIENTATION_TOLERANCE:
            return None
    return normal


@dataclass(frozen=True, slots=True)
class StackImage:
    """One image of a stack: frame ``frame`` of the instance ``instance``."""

    instance: Instance
    frame: int


class Stack:
    """The images of a series in viewing order; files are opened when an image is asked for.

    Safe to use from several threads (the viewer's decoder, thumbnails, an export).
    """

    def __init__(self, instances: Sequence[Instance]) -> None:
        viewable = [i for i in slice_order(instances) if frames_of(i)]
        self.instances = viewable
        self.images = [
            StackImage(instance, frame)
            for instance in viewable
            for frame in range(frames_of(instance))
        ]
        self._sources: OrderedDict[Path, FrameSource] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def frame_count(self) -> int:
        return len(self.images)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def rows(self) -> int:
        return max((i.rows or 0 for i in self.instances), default=0) or self.source(0)[0].rows

    @property
    def columns(self) -> int:
        return max((i.columns or 0 for i in self.instances), default=0) or self.source(0)[0].columns

    @property
    def fps(self) -> float:
        """The cine rate of a multi-frame instance; DEFAULT_FPS to play through slices."""
        if len(self.instances) == 1 and self.images:
            return self.source(0)[0].fps
        return DEFAULT_FPS

    def source(self, index: int) -> tuple[FrameSource, int]:
        """The opened file holding image ``index``, and the frame within it."""
        if not 0 <= index < len(self.images):
            raise FrameError(
                f"image {index} is out of range: the stack has {len(self.images)} image(s)"
            )
        image = self.images[index]
        path = Path(str(image.instance.path))
        with self._lock:
            source = self._sources.get(path)
            if source is not None:
                self._sources.move_to_end(path)
                return source, image.frame
        source = FrameSource(path)
        with self._lock:
            self._sources[path] = source
            while len(self._sources) > OPEN_SOURCES:
                self._sources.popitem(last=False)
        return source, image.frame

    def render(self, index: int, window: Window | None = None) -> Rendered:
        """Image ``index`` ready to show, with the window actually used."""
        source, frame = self.source(index)
        return source.render(frame, window)

    def display(self, index: int, window: Window | None = None) -> NDArray[np.uint8]:
        """Image ``index`` as uint8 grey or RGB (what an export writes)."""
        return self.render(index, window).pixels

    def middle(self) -> int:
        """The image a viewer opens the stack at: the middle slice, or a cine's first frame."""
        return 0 if len(self.instances) == 1 else len(self.images) // 2


def series_stack(trees: Sequence[MediaTree], *, series_uid: str | None = None) -> Stack:
    """The stack of the one series in ``trees`` (or of ``series_uid``), one copy of each
    instance (the readable one); a plain error when there is none, or several and no UID says
    which."""
    found: dict[str, Series] = {}
    for tree in trees:
        for patient in tree.patients:
            for study in patient.studies:
                for series in study.series:
                    if series_uid in (None, series.series_instance_uid):
                        found.setdefault(
                            series.series_instance_uid,
                            Series(
                                series.series_instance_uid,
                                series.modality,
                                series.series_number,
                                series.series_description,
                            ),
                        ).instances.extend(series.instances)
    if not found:
        raise ExportError(
            f"no series {series_uid} there" if series_uid else "no series with images there"
        )
    if len(found) > 1:
        listing = "; ".join(
            f"{uid} ({s.modality} {s.series_description}, {counted(len(s.instances), 'image')})"
            for uid, s in found.items()
        )
        raise ExportError(
            f"{len(found)} series there; say which by its Series Instance UID: {listing}"
        )
    stack = Stack(one_copy_each(next(iter(found.values())).instances)[0])  # readable copies
    if not stack.images:
        raise ExportError("the series holds no image (no instance with pixel data)")
    return stack
