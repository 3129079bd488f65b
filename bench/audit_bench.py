"""The audit trail's costs: one append (with its fsync), verifying a long log, and what an
audited send adds before its first instance (reading each file's study and patient).

.venv/bin/python -m bench.audit_bench
"""

import argparse
import os
import time
from collections import Counter
from unittest import mock

from bench.scratch import scratch_folder
from desktop.core.audit import events
from desktop.core.audit.store import AuditLog
from desktop.core.audit.studies import group_by_study, study_of
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

LOCAL = events.Local("bench", "bench.example", 1)
STUDY = events.Study(
    "1.2.3", "P", "Bench^Audit", sop_classes=Counter({"1.2.840.10008.5.1.4.1.1.2": 200})
)
MESSAGE = events.begin_transferring(LOCAL, events.Node("PACS", "10.0.0.1"), STUDY)


def append_ms(count: int) -> float:
    log = AuditLog(scratch_folder() / "audit")
    start = time.perf_counter()
    for _ in range(count):
        log.append(MESSAGE)
    return (time.perf_counter() - start) / count * 1000


def verify_records_per_second(count: int) -> float:
    log = AuditLog(scratch_folder() / "audit")
    with mock.patch.object(os, "fsync"):  # building the log is not what is measured
        for _ in range(count):
            log.append(MESSAGE)
    start = time.perf_counter()
    assert log.verify().ok
    return count / (time.perf_counter() - start)


def study_reading_ms(files: int) -> float:
    spec = StudySpec(
        "B", "Bench^Audit", "20240101", "audit", (SeriesSpec("CT", "ax", count=files),)
    )
    paths = write_files(scratch_folder(), (spec,))
    start = time.perf_counter()
    group_by_study(study_of(p) for p in paths)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    print(f"append (one fsync): {append_ms(args.appends):.1f} ms/record")
    print(f"verify: {verify_records_per_second(args.records):,.0f} records/s")
    print(f"study and patient of {args.files} files: {study_reading_ms(args.files):.0f} ms")


if __name__ == "__main__":
    main()
