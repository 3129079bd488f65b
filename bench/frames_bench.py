"""Frame pipeline, cine rates and memory, one run.

.venv/bin/python -m bench.frames_bench
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.data import get_testdata_file

from bench.scratch import scratch_folder
from desktop.core.display import DisplayPipeline, Window
from desktop.core.frames import FrameSource
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files


def cine_file(folder: Path, frames: int) -> Path:
    study = StudySpec(
        "B",
        "Bench^Cine",
        "20240101",
        "cine",
        (SeriesSpec("XA", "cine", rows=512, columns=512, frames=frames),),
    )
    [path] = write_files(folder, (study,))
    return path


def pipeline_ms() -> float:
    """Decoded 512x512 16-bit frame -> display uint8, with a user window (LUT built once)."""
    source = FrameSource(cine_file(scratch_folder(), 2))
    frame = source.stored(0)
    pipeline: DisplayPipeline = source.pipeline
    window = Window(1500, 2000)
    pipeline.to_uint8(frame, window)
    runs = 500
    start = time.perf_counter()
    for _ in range(runs):
        pipeline.to_uint8(frame, window)
    return (time.perf_counter() - start) / runs * 1000


def cine_fps(path: Path, passes: int = 2) -> float:
    source = FrameSource(path)
    source.display(0)
    start = time.perf_counter()
    for _ in range(passes):
        for index in range(source.frame_count):
            source.display(index)
    return passes * source.frame_count / (time.perf_counter() - start)


def peak_memory_mb(path: Path) -> tuple[float, float]:
    """Peak RSS above the baseline of an interpreter that imported the same modules."""
    code = (
        "import sys; from pathlib import Path; import numpy, pydicom;"
        "from desktop.core.frames import FrameSource;"
        "hwm = lambda: int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))"
        ".split()[1]) / 1024;"
        "base = hwm(); s = FrameSource(Path(sys.argv[1]));"
        "all(s.display(i) is not None for i in range(s.frame_count));"
        "print(base, hwm() - base)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        uncompressed = cine_file(Path(folder) / "a", 200)
        big = cine_file(Path(folder) / "b", 1000)
        jpeg = Path(str(get_testdata_file("color3d_jpeg_baseline.dcm", download=False)))
        print(f"pipeline 512x512 16-bit -> uint8: {pipeline_ms():.3f} ms/frame (target <= 1)")
        print(
            f"cine 512x512 16-bit uncompressed: {cine_fps(uncompressed):.0f} frames/s "
            "(target >= 200)"
        )
        print(f"cine 480x640 JPEG baseline YBR:   {cine_fps(jpeg):.0f} frames/s (target >= 60)")
        base, peak = peak_memory_mb(big)
        print(
            f"1,000-frame 512x512 cine ({big.stat().st_size / 2**20:.0f} MB file), every frame "
            f"displayed: peak {peak:.0f} MB above a {base:.0f} MB baseline (target <= 150)"
        )


if __name__ == "__main__":
    main()
