"""Text lines read from a frame by RapidOCR on ONNX Runtime, with the PP-OCR detection and
recognition models its wheel carries: nothing is downloaded, the network is never used.

The engine takes ~2 s to load; one is made per process, when first needed.
"""

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from desktop.core.deid.boxes import Box, bounding
from desktop.core.errors import CourierError

log = logging.getLogger(__name__)
#: No angle classifier (annotations are upright); lines read with a score under 0.5 dropped;
#: frames read at their own size up to 960 pixels (the default enlarges a 640×480 frame to
#: 981×736: 1.6 times the CPU for nothing found in bench/ocr_bench.py); one thread, which
#: spends half the CPU time of ONNX Runtime's default thread pool on a busy 2-core machine.
SETTINGS = {
    "Global.log_level": "error",
    "Global.use_cls": False,
    "Global.text_score": 0.5,
    "Det.limit_type": "max",
    "Det.limit_side_len": 960,
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
}


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text found in a frame: where, what it says, how sure the reader is."""

    box: Box
    text: str
    score: float


class OcrUnavailableError(CourierError):
    """The OCR engine is not installed or its models do not load."""


def read_lines(frame: NDArray[np.uint8]) -> list[TextLine]:
    """The text lines of a uint8 grey (rows, columns) or RGB (rows, columns, 3) frame."""
    image = np.ascontiguousarray(np.dstack([frame] * 3) if frame.ndim == 2 else frame[..., :3])
    found = engine()(image[..., ::-1])  # RapidOCR takes OpenCV's BGR order
    if found.boxes is None:
        return []
    return [
        TextLine(bounding(map(tuple, quad)), str(text), float(score))
        for quad, text, score in zip(found.boxes, found.txts, found.scores, strict=True)
    ]


@cache
def engine() -> Any:
    """The process's OCR engine, loaded on first use; OcrUnavailableError when it cannot be."""
    try:
        from rapidocr import RapidOCR
    except ImportError as error:
        raise OcrUnavailableError(
            f"burned-in text cannot be read: the OCR engine is not installed ({error.name}); "
            "reinstall DICOM Courier (scripts/setup.sh) or use --pixels off"
        ) from None
    for name in ("RapidOCR", "rapidocr"):  # it logs every model it loads at INFO
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        return RapidOCR(params=SETTINGS)
    except Exception as error:  # a missing or damaged model file, ONNX Runtime refusing it
        log.debug("RapidOCR failed to load", exc_info=True)
        raise OcrUnavailableError(f"the OCR engine cannot load its models: {error}") from error
