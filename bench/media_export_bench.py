"""Writing a study to media with a DICOMDIR against a plain ``cp -r`` of its files, one run.

.venv/bin/python -m bench.media_export_bench [--instances 1000] [--runs 3]
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.timing import timed
from desktop.core.media_writer import write_media
from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets


def write_study(folder: Path, instances: int) -> list[Path]:
    """One CT study of 512×512×16-bit images (0.5 MB each) as plain files."""
    study = StudySpec(
        "BENCH", "Bench^Media", "20260101", "CT", (SeriesSpec("CT", "axial", count=instances),)
    )
    files = []
    for number, dataset in enumerate(study_datasets(study)):
        dataset.Rows = dataset.Columns = 512
        dataset.PixelData = bytes(512 * 512 * 2)
        path = folder / f"{number:06d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def export(files: list[Path], out: Path) -> None:
    loader = write_media(files, out, fileset="BENCH")
    for _ in loader:
        pass


def copy(source: Path, out: Path) -> None:
    subprocess.run(["cp", "-r", str(source), str(out)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "study"
        source.mkdir()
        files = write_study(source, args.instances)
        size = sum(f.stat().st_size for f in files) / 1e6
        plain, media = [], []
        for run in range(args.runs):  # alternated, each into a new folder, removed untimed
            plain.append(timed(lambda: copy(source, Path(folder) / "copy")))
            media.append(timed(lambda: export(files, Path(folder) / "media")))
            assert (Path(folder) / "media" / "DICOMDIR").is_file(), run
            shutil.rmtree(Path(folder) / "copy")
            shutil.rmtree(Path(folder) / "media")
        plain, media = min(plain), min(media)
    print(f"instances: {len(files)} ({size:,.0f} MB, best of {args.runs} runs)")
    print(f"cp -r:                  {plain:6.2f} s")
    print(f"export-media (DICOMDIR): {media:6.2f} s  speed {plain / media:.2f}x cp -r")


if __name__ == "__main__":
    main()
