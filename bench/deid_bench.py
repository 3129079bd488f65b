"""Header-only de-identification speed: CT instances in, de-identified copies out.

env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m bench.deid_bench [--instances 2000]
    [--size 512] [--runs 3]

Measures the whole command as a user runs it (``dicom-courier deid IN --out DIR`` in a new
process: start-up, read, Table E.1-1 at every level, keyed UIDs, atomic writes flushed to
disk, worker processes on every core), the same path in this process with its workers and
without (one process), what the disk itself gives for files of the copies' size (written
and committed as the copies are, durable, and written without waiting for the disk), pydicom
reading and writing the same files without de-identifying (for scale), the copy in memory from
the header's bytes (``core/deid/raw.py``: the file path without the file system), the same
through pydicom's data set (the path files the bytes path leaves to it take) and the profile
alone on data sets already read. CPU times include the worker processes'. The sources are
written to disk (``sync``) before anything is timed, so their writing does not share the disk
with the copies'.
"""

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from bench.timing import COURIER
from desktop.core.deid.batch import BATCH, copy_files, deidentify_files
from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.passthrough import encode, split
from desktop.core.deid.profile import Profile
from desktop.core.deid.raw import deidentify_header
from desktop.core.files import AtomicBatch
from desktop.core.synthetic import SeriesSpec, StudySpec, cross_referenced_datasets


def write_sources(root: Path, instances: int, size: int) -> list[Path]:
    """``instances`` CT images over 10 patients of one study of two series each."""
    per_series = max(instances // 20, 1)
    paths = []
    for patient in range(10):
        study = StudySpec(
            f"P{patient:03d}",
            f"Bench^{patient:03d}",
            "20240301",
            "CT chest",
            (
                SeriesSpec("CT", "axial", count=per_series, rows=size, columns=size),
                SeriesSpec("CT", "derived", count=per_series, rows=size, columns=size),
            ),
            accession_number=f"ACC{patient:05d}",
        )
        for dataset in cross_referenced_datasets(study):
            path = root / f"{len(paths):06d}.dcm"
            dataset.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def cpu_time() -> float:
    """This process's CPU time and that of its children waited for (the workers)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best(runs: int, work: Callable[[Path], None], scratch: Path) -> tuple[float, float]:
    """The best wall time and the best CPU time of this process and its workers over
    ``runs``: on a shared machine the CPU time says what the work costs, the wall time what
    this run got."""
    scratch.mkdir()
    walls, cpus = [], []
    for run in range(runs):
        os.sync()  # the previous run's writing is not this one's
        wall, cpu = time.perf_counter(), cpu_time()
        work(scratch / f"run{run}")
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_time() - cpu)
    return min(walls), min(cpus)


def disk(count: int, size: int, *, durable: bool) -> Callable[[Path], None]:
    """Writing ``count`` files of ``size`` bytes: committed as the copies are (``AtomicBatch``
    of ``batch.BATCH``: durable), or plainly, the system writing them to disk later."""
    data = os.urandom(size)

    def write(out: Path) -> None:
        out.mkdir()
        batch = AtomicBatch()
        for number in range(count):
            if durable:
                with batch.output(out / f"{number}.dcm") as copy:
                    copy.write(data)
                if len(batch) >= BATCH:
                    batch.commit()
            else:
                (out / f"{number}.dcm").write_bytes(data)
        batch.commit()

    return write


def command(runs: int, source: Path, scratch: Path) -> tuple[float, float]:
    """``best`` for ``dicom-courier deid`` in a new process: the CPU time of that process."""
    scratch.mkdir()
    key = scratch / "project.key"
    key.write_bytes(bytes(32))
    key.chmod(0o600)
    env = {**os.environ, "DICOM_COURIER_HOME": str(scratch / "home")}
    walls, cpus = [], []
    for run in range(runs):
        os.sync()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run(
            [COURIER, "deid", source, "--out", scratch / f"run{run}", "--key-file", key],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        walls.append(time.perf_counter() - wall)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--size", type=int, default=512, help="rows and columns of each image")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "in").mkdir()
        paths = write_sources(root / "in", args.instances, args.size)
        os.sync()
        profile = Profile(KeyedMapping(bytes(32)))
        size = round(statistics.mean(path.stat().st_size for path in paths))

        def deidentify(out: Path) -> None:
            done = list(deidentify_files([root / "in"], out, profile))
            assert all(d.copy for d in done)

        def one_process(out: Path) -> None:
            done = list(copy_files(paths, out, profile, workers=0))
            assert all(d.copy for d in done)

        def copy_only(out: Path) -> None:
            out.mkdir()
            for path in paths:
                dcmread(path).save_as(out / path.name, enforce_file_format=True)

        whole = command(args.runs, root / "in", root / "command")
        ours = best(args.runs, deidentify, root / "deid")
        alone = best(args.runs, one_process, root / "alone")
        durable = best(args.runs, disk(len(paths), size, durable=True), root / "durable")
        plain = best(args.runs, disk(len(paths), size, durable=False), root / "plain")
        floor = best(args.runs, copy_only, root / "copy")
        contents = [path.read_bytes() for path in paths]
        start = time.process_time()
        for content in contents:
            copy = deidentify_header(content, profile)
            assert copy is not None
            b"".join((copy.header, memoryview(content)[copy.pixels :]))
        copying = time.process_time() - start
        start = time.process_time()
        for content in contents:
            source = split(content)
            assert source is not None
            profile.deidentify(source.dataset)
            encode(source)
        by_data_set = time.process_time() - start
        start = time.process_time()
        datasets = [dcmread(path) for path in paths]
        reading = time.process_time() - start
        start = time.process_time()
        for dataset in datasets:
            profile.deidentify(dataset)
        in_memory = time.process_time() - start
    count = len(paths)
    print(f"{count} CT instances {args.size}x{args.size}, best of {args.runs}, files/s")
    print(
        f"load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after: {os.getloadavg()[0]:.2f}"
    )
    for name, (wall, cpu) in (
        ("dicom-courier deid", whole),
        ("de-identify in-process", ours),
        ("  in one process", alone),
        (f"disk: {size:,} B durable", durable),
        ("disk: written, no wait", plain),
        ("pydicom read+write only", floor),
    ):
        rates = f"wall {wall:6.2f} s {count / wall:7,.0f}   cpu {cpu:6.2f} s {count / cpu:7,.0f}"
        print(f"{name:24} {rates}")
    print(f"copy in memory (bytes)   cpu {copying:6.2f} s {count / copying:7,.0f}")
    print(f"copy in memory (pydicom) cpu {by_data_set:6.2f} s {count / by_data_set:7,.0f}")
    print(f"read only (dcmread)      cpu {reading:6.2f} s {count / reading:7,.0f}")
    print(f"profile only, in memory  cpu {in_memory:6.2f} s {count / in_memory:7,.0f}")


if __name__ == "__main__":
    main()
