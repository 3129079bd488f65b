"""Private areas for the copies a job sends instead of its sources (signed or de-identified):
one 0700 folder per job under ``home/<kind>`` (a kind of ``KINDS``), removed once the job is
done or cancelled, and swept at start when a crash left one that no unfinished job needs.

The process filling an area holds a lock on it until the job is queued, so a sweep in another
process never takes an area being made.
"""

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.core.files import lock_if_free, locked, private_folder
from desktop.net.queue import TransferQueue

KINDS = ("signing", "deidentified")
LOCK = ".making"
#: An area younger than this is never swept: its maker may not have locked it yet.
SETTLING_SECONDS = 60.0
log = logging.getLogger(__name__)


@contextmanager
def new_area(home: Path, kind: str) -> Iterator[Path]:
    """A new private folder under ``home/kind`` for one job's copies, locked for the block
    (make the copies and queue the job in it); removed if the block fails."""
    root = private_folder(home / kind)
    area = Path(tempfile.mkdtemp(prefix="job-", dir=root))
    try:
        with locked(area / LOCK):
            yield area
    except BaseException:
        shutil.rmtree(area, ignore_errors=True)
        raise
    (area / LOCK).unlink(missing_ok=True)


def discard_copies(queue: TransferQueue, job_id: int, home: Path) -> bool:
    """Remove the job's copies once all were sent or the job was cancelled (failures keep
    theirs for 'queue retry'); True if removed."""
    job = queue.job(job_id)
    if job.sent < job.total and not job.cancelled:
        return False
    roots = [home / kind for kind in KINDS if (home / kind).is_dir()]
    areas = set().union(*(_areas_of(queue, job_id, root) for root in roots))
    for area in areas:
        shutil.rmtree(area, ignore_errors=True)
    return bool(areas)


def sweep(queue: TransferQueue, home: Path) -> int:
    """Remove the areas that no pending or failed job still sends from (left by a crash, or
    by a job removed since); the number removed."""
    return sum(_sweep(queue, home / kind) for kind in KINDS)


def _sweep(queue: TransferQueue, root: Path) -> int:
    return sweep_areas(root, lambda area: area.resolve() not in _needed(queue, root))


def sweep_areas(root: Path, unneeded: Callable[[Path], bool] = lambda area: True) -> int:
    """Remove the areas under ``root`` that no process is making (their maker finished or
    died) and that are ``unneeded``; the number removed."""
    if not root.is_dir():
        return 0
    removed = 0
    for area in root.iterdir():
        if not area.is_dir() or time.time() - area.stat().st_mtime < SETTLING_SECONDS:
            continue
        with lock_if_free(area / LOCK) as free:  # its maker is done with it, or died
            if free and unneeded(area):
                shutil.rmtree(area, ignore_errors=True)
                log.info("removed the copies a stopped process left in %s", area)
                removed += 1
    return removed


def _needed(queue: TransferQueue, root: Path) -> set[Path]:
    """The areas under ``root`` of the jobs not done nor cancelled."""
    needed: set[Path] = set()
    for job in queue.jobs():
        if not job.cancelled and job.sent < job.total:
            needed |= _areas_of(queue, job.id, root)
    return needed


def _areas_of(queue: TransferQueue, job_id: int, root: Path) -> set[Path]:
    """The areas under ``root`` that hold the job's files (at any depth in them)."""
    resolved = root.resolve()
    folders = {instance.item.path.parent for instance in queue.instances(job_id)}
    found = set()
    for folder in folders:  # a job's files share a few folders: each resolved once
        path = folder.resolve()
        if path.is_relative_to(resolved) and path != resolved:
            found.add(resolved / path.relative_to(resolved).parts[0])
    return found
