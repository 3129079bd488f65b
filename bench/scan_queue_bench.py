"""What a send pays before its association: the media scan, the items, the queueing, the
queued instances read back and each file's check before it is sent (#9).

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m bench.scan_queue_bench [--files 200]

Times CPU (``time.process_time``) per phase, the median and the least of several rounds
after a warm-up round (a warm send: the modules loaded, the files in the page cache), on
200 CT slices of 0.5 MB written more than two seconds before (their state vouches for
them: none is hashed).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.timing import ct_series

if TYPE_CHECKING:
    from desktop.net.queue import TransferQueue


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch, "media")
        files = ct_series(folder, args.files, "BENCH")
        old = time.time() - 60
        for file in files:
            os.utime(file, (old, old))
        time.sleep(2.1)  # the change times settle
        from desktop.net.queue import TransferQueue

        queue = TransferQueue(Path(scratch, "home", "queue.sqlite"))
        one_round(folder, queue)  # warm-up: a warm send has its modules loaded
        rounds = [one_round(folder, queue) for _ in range(args.rounds)]
        queue.close()
    medians = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    fastest = {name: min(r[name] for r in rounds) for name in rounds[0]}
    print(f"{'phase':10} {'median':>7} {'min':>7} (ms CPU)")
    for name, seconds in medians.items():
        print(f"{name:10} {seconds * 1000:7.1f} {fastest[name] * 1000:7.1f}")
    load = os.getloadavg()[0]
    total, least = sum(medians.values()) * 1000, sum(fastest.values()) * 1000
    print(f"{'total':10} {total:7.1f} {least:7.1f} ({args.files} files, load {load:.1f})")


def one_round(folder: Path, queue: "TransferQueue") -> dict[str, float]:
    """CPU seconds of each phase of one send's preparation, as ``dicom-courier send`` runs it."""
    from desktop.commands.transfer import items_from
    from desktop.core.media import open_media
    from desktop.net.store import _check

    times: dict[str, float] = {}
    clock = time.process_time()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.process_time()
        times[name], clock = now - clock, now

    tree = open_media(folder)
    lap("scan")
    items, _ = items_from([tree], None, None)
    lap("items")
    items = queue.hashed(items)
    lap("hashed")
    job = queue.enqueue("node", items, "bench")
    lap("enqueue")
    queued = queue.instances(job)
    lap("instances")
    for instance in queued:
        _check(instance.item)
    lap("check")
    return times


if __name__ == "__main__":
    main()
