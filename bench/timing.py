"""What every bench shares: a best-of timer, the 512² CT series the transfer benches send, and
``dicom-courier`` run as a user runs it."""

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

COURIER = Path(sys.executable).with_name("dicom-courier")


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


def courier(env: dict[str, str], *arguments: object) -> str:
    """Run ``dicom-courier`` as a user does, in a new process; its output."""
    result = subprocess.run(
        [COURIER, *map(str, arguments)], env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode:
        raise RuntimeError(f"dicom-courier {arguments} failed: {result.stdout}{result.stderr}")
    return result.stdout


def add_tls_node(env: dict[str, str], name: str, ae_title: str, port: int) -> None:
    """``node add`` for a peer on loopback reached over TLS with the keystore's "courier"."""
    from tests.helpers import node_add

    courier(env, *node_add(name, ae_title, port, "--tls", "--identity", "courier"))
