"""Opening large media: our tree against pydicom's FileSet load of the same DICOMDIR, one run.

.venv/bin/python -m bench.media_bench [--instances 10000]
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydicom.fileset import FileSet

from bench.timing import timed
from desktop.core.dicomdir import read_dicomdir
from desktop.core.media import open_media
from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets


def studies(instances: int) -> tuple[StudySpec, ...]:
    """Instances spread over 100 patients × 2 studies × 2 series of small CT images."""
    per_series = max(instances // 400, 1)
    return tuple(
        StudySpec(
            f"P{p:04d}",
            f"Bench^{p:04d}",
            f"2024{(s % 12) + 1:02d}01",
            f"Study {s}",
            (
                SeriesSpec("CT", "a", count=per_series, rows=32, columns=32),
                SeriesSpec("CT", "b", count=per_series, rows=32, columns=32),
            ),
        )
        for p in range(100)
        for s in range(2)
    )


def write_media(root: Path, instances: int) -> int:
    """Plain files in DCMTK-style folders, then a DICOMDIR by dcmmkdir (fast and independent)."""
    count = 0
    for study in studies(instances):
        for dataset in study_datasets(study):
            count += 1
            target = root / "DATA" / f"D{count // 1000:03d}" / f"IM{count:06d}"
            target.parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(target, enforce_file_format=True)
    subprocess.run(["dcmmkdir", "--recurse", "DATA"], cwd=root, check=True, capture_output=True)
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "media"
        count = write_media(root, args.instances)
        dicomdir = root / "DICOMDIR"
        pydicom_load = timed(lambda: FileSet(dicomdir), args.runs)
        index_only = timed(lambda: read_dicomdir(dicomdir), args.runs)
        full_tree = timed(lambda: open_media(root), args.runs)
        plain = Path(folder) / "plain"
        shutil.copytree(root / "DATA", plain)
        scan = timed(lambda: open_media(plain), args.runs)
        tree = open_media(plain)
        assert sum(1 for _ in tree.instances()) == count and not tree.problems
    print(f"instances: {count} (best of {args.runs} runs)")
    print(f"pydicom FileSet load:             {pydicom_load:6.2f} s")
    print(
        f"our DICOMDIR index (no headers):  {index_only:6.2f} s  "
        f"ratio {index_only / pydicom_load:.2f}x"
    )
    print(
        f"our full tree (index + headers):  {full_tree:6.2f} s  "
        f"ratio {full_tree / pydicom_load:.2f}x"
    )
    print(f"folder scan, no DICOMDIR:         {scan:6.2f} s  {count / scan:,.0f} files/s")


if __name__ == "__main__":
    main()
