"""A job cancelled by another process stops its running send.

``queue cancel`` in a second shell (or the GUI beside a CLI send) marks the job cancelled in
the queue's database; the process sending it reads that mark on a thread of its own every
half second and cancels the send's links (``Cancel``), so a send blocked on a silent peer
ends within a second instead of the node's network timeout.
"""

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.net.cancel import Cancel

POLL_SECONDS = 0.5

logger = logging.getLogger(__name__)


@contextmanager
def cancelled_elsewhere(
    database: Path, job_id: int, cancel: Cancel, *, every: float = POLL_SECONDS
) -> Iterator[None]:
    """During the block, ``cancel`` once job ``job_id`` of the queue ``database`` is marked
    cancelled, by this process or another (read through a connection of the watcher's own)."""
    stop = threading.Event()

    def watch() -> None:
        db = None
        try:
            while not stop.wait(every) and not cancel.cancelled:
                if db is None:
                    db = sqlite3.connect(database, timeout=every)
                row = db.execute("SELECT cancelled FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row and row[0]:
                    cancel.cancel()
        except sqlite3.Error as error:  # the send goes on; only a cancel from elsewhere is lost
            logger.warning("job %d: a cancel by another process cannot be seen: %s", job_id, error)
        finally:
            if db is not None:
                db.close()

    watcher = threading.Thread(target=watch, name=f"cancel-watch-{job_id}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
