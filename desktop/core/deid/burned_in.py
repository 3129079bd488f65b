"""Find the burned-in text to mask in one image: triage by header, then OCR on a few frames
of a flagged image (first, middle, last: annotations of a cine stay put), each line tested
against the file's own identifying values; what is found is masked in every frame.
"""

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from desktop.core.deid.boxes import Box
from desktop.core.deid.identifiers import Identifiers
from desktop.core.deid.ocr import TextLine, read_lines
from desktop.core.deid.triage import Triage, triage
from desktop.core.errors import FrameError
from desktop.core.frames import FrameSource

MARGIN = 2  #: pixels added above and below a line, for anti-aliased edges
#: ... and on each side, as a share of its height: the detector often leaves out a line's first
#: or last character (bench/ocr_bench.py: "5677815" read of "A5677815").
SIDE_MARGIN = 0.5


@dataclass(frozen=True, slots=True)
class Finding:
    """What the header and the pixels say about one image's burned-in text."""

    triage: Triage
    lines: tuple[TextLine, ...] = ()  #: every line read, identifying or not
    boxes: tuple[Box, ...] = ()  #: what to mask: the known bars and the identifying lines
    frames: tuple[int, ...] = ()  #: the frames read


def find_text(path: Path, dataset: Dataset) -> Finding:
    """The boxes to mask in ``path`` (whose original header is ``dataset``)."""
    sorted_out = triage(dataset)
    if not sorted_out.flagged or "PixelData" not in dataset:
        return Finding(sorted_out)
    source = FrameSource(path)
    identifiers = Identifiers.of(dataset)
    frames = sample_frames(source.frame_count)
    lines: list[TextLine] = []
    boxes = dict.fromkeys(sorted_out.known)
    for index in frames:
        try:
            frame = source.display(index)
        except FrameError as error:
            raise FrameError(f"its burned-in text cannot be searched: {error}") from error
        for line in read_lines(frame):
            lines.append(line)
            if _identifying(line, identifiers, sorted_out):
                boxes[_covering(line.box)] = None
    return Finding(sorted_out, tuple(lines), tuple(boxes), frames)


def sample_frames(count: int) -> tuple[int, ...]:
    """The frames read: first, middle and last (fewer when the image has fewer)."""
    return tuple(sorted({0, count // 2, count - 1})) if count > 0 else ()


def _covering(box: Box) -> Box:
    """``box`` grown by MARGIN above and below, by SIDE_MARGIN of its height on each side."""
    side = max(MARGIN, round(box.height * SIDE_MARGIN))
    return Box(box.x - side, box.y - MARGIN, box.width + 2 * side, box.height + 2 * MARGIN)


def _identifying(line: TextLine, identifiers: Identifiers, sorted_out: Triage) -> bool:
    """Inside an ultrasound data region only the file's own values count (measurements there
    look like numbers); elsewhere look-alikes (dates, IDs) count too."""
    if any(line.box.inside(region) for region in sorted_out.data_regions):
        return identifiers.matches(line.text)
    return identifiers.identifying(line.text)
