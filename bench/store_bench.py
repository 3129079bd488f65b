"""The local store: building its index, and C-FIND matching over 10,000 indexed instances.

.venv/bin/python -m bench.store_bench [--instances 10000] [--runs 5]

The instances are small CT files (32×32) filed as the listener files them: 100 patients ×
2 studies × 2 series. The index is built from the files (``Store`` on a new folder, as
``store reindex``), then grown one file at a time as the listener does; the finds go through
``Store.find`` as the query/retrieve provider calls it, responses built as pydicom data sets.
"""

import argparse
import tempfile
import time
from pathlib import Path

from pydicom import Dataset

from bench.timing import timed
from desktop.core.filing import stored_path
from desktop.core.store import Store
from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets


def file_instances(folder: Path, instances: int) -> list[Dataset]:
    """Write ``instances`` small CT files in the Inbox layout; return one data set per series."""
    per_series = max(instances // 400, 1)
    firsts = []
    for patient in range(100):
        for study in range(2):
            spec = StudySpec(
                f"P{patient:04d}",
                f"Bench^{patient:04d}",
                f"2024{study + 1:02d}01",
                f"Study {study}",
                (
                    SeriesSpec("CT", "a", count=per_series, rows=32, columns=32),
                    SeriesSpec("MR", "b", count=per_series, rows=32, columns=32),
                ),
            )
            for number, dataset in enumerate(study_datasets(spec)):
                if number % per_series == 0:
                    firsts.append(dataset)
                target = stored_path(
                    folder,
                    dataset.PatientID,
                    dataset.StudyInstanceUID,
                    dataset.SeriesInstanceUID,
                    dataset.SOPInstanceUID,
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                dataset.save_as(target, enforce_file_format=True)
    return firsts


def query(**keys: str) -> Dataset:
    identifier = Dataset()
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return identifier


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        inbox = Path(folder) / "inbox"
        series = file_instances(inbox, args.instances)
        files = sorted(inbox.rglob("*.dcm"))
        start = time.perf_counter()
        store = Store(inbox)  # a new index: built from the files on the store's thread
        store.counts()  # a read: waits for that first indexing
        build = time.perf_counter() - start
        print(
            f"index built from {len(files)} files: {build:.2f} s, {len(files) / build:,.0f} files/s"
        )
        one = series[len(series) // 2]
        image_keys = {"SOPInstanceUID": "", "SOPClassUID": "", "InstanceNumber": ""}
        cases = {
            "image level, one series (hierarchical)": (
                "IMAGE",
                query(
                    StudyInstanceUID=one.StudyInstanceUID,
                    SeriesInstanceUID=one.SeriesInstanceUID,
                    **image_keys,
                ),
            ),
            "image level, name wildcard + date range": (
                "IMAGE",
                query(
                    PatientName="bench^004*",
                    StudyDate="20240201-",
                    StudyInstanceUID="",
                    SeriesInstanceUID="",
                    **image_keys,
                ),
            ),
            "image level, universal (every instance)": (
                "IMAGE",
                query(StudyInstanceUID="", SeriesInstanceUID="", **image_keys),
            ),
            "study level, universal with counts and modalities": (
                "STUDY",
                query(
                    PatientName="",
                    PatientID="",
                    StudyDate="",
                    ModalitiesInStudy="",
                    NumberOfStudyRelatedSeries="",
                    NumberOfStudyRelatedInstances="",
                ),
            ),
        }
        for name, (level, identifier) in cases.items():
            found = [0]

            def run(
                level: str = level, identifier: Dataset = identifier, found: list[int] = found
            ) -> None:
                found[0] = sum(
                    1 for _ in store.find(model="STUDY", level=level, identifier=identifier)
                )  # type: ignore[arg-type]

            seconds = timed(run, args.runs)
            print(f"{name}: {found[0]:,} matches in {seconds * 1000:.0f} ms")
        added = files[: min(1000, len(files))]
        start = time.perf_counter()
        for path in added:
            store.add(path)  # one transaction per file
        adding = time.perf_counter() - start
        print(f"add, one file per transaction: {len(added) / adding:,.0f} files/s")
        start = time.perf_counter()
        for path in added:
            store.add_soon(path)  # as the listener's sink does: queued, indexed in batches
        queued = time.perf_counter() - start
        store.counts()  # a read: waits until the queue is indexed
        batched = time.perf_counter() - start
        print(
            f"add_soon (the listener's way): {queued / len(added) * 1e6:.0f} µs per file on "
            f"the association thread, all indexed at {len(added) / batched:,.0f} files/s"
        )
        store.close()


if __name__ == "__main__":
    main()
