"""What every bench shares: a best-of timer and the 512² CT series the transfer benches send."""

import time
from collections.abc import Callable
from pathlib import Path

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files


def timed(action: Callable[[], object], runs: int = 1) -> float:
    """The best wall time of ``runs`` calls of ``action``, in seconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def ct_series(folder: Path, count: int, patient: str) -> list[Path]:
    """``count`` 512×512 CT slices of one series (about 0.5 MB each) written under ``folder``."""
    study = StudySpec(
        "B",
        patient,
        "20240101",
        "bench",
        (SeriesSpec("CT", "axial", count=count, rows=512, columns=512),),
    )
    return write_files(folder, (study,))
