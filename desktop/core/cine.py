"""The rate at which a multi-frame instance should play."""

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

DEFAULT_FPS = 10.0
MIN_FPS, MAX_FPS = 0.5, 240.0


def cine_rate(dataset: Dataset) -> float:
    """Frames per second from Frame Time, Frame Time Vector, Cine Rate or Recommended Display
    Frame Rate (in that order of preference); DEFAULT_FPS when none gives a sane rate."""
    candidates = (
        _per_second(_number(dataset, "FrameTime")),
        _per_second(_mean_interval(dataset)),
        _number(dataset, "CineRate"),
        _number(dataset, "RecommendedDisplayFrameRate"),
    )
    for fps in candidates:
        if fps is not None and MIN_FPS <= fps <= MAX_FPS:
            return fps
    return DEFAULT_FPS


def _number(dataset: Dataset, keyword: str) -> float | None:
    try:
        value = dataset.get(keyword)
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _per_second(milliseconds: float | None) -> float | None:
    return 1000.0 / milliseconds if milliseconds and milliseconds > 0 else None


def _mean_interval(dataset: Dataset) -> float | None:
    """The mean of a Frame Time Vector's positive intervals (its first entry is usually 0)."""
    try:
        vector = dataset.get("FrameTimeVector")
        values = [
            float(v)
            for v in (vector if isinstance(vector, MultiValue | list) else [vector])
            if v not in (None, "")
        ]
    except (TypeError, ValueError):
        return None
    positive = [v for v in values if v > 0]
    return sum(positive) / len(positive) if positive else None
