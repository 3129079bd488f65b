"""Several processes opening a new queue at the same moment (two `queue run`, the GUI and a
`send`, on a fresh home): each opens it; none fails on the columns another just added, nor
on the journal another is switching."""

import threading
from pathlib import Path

from desktop.net.queue import ADDED_COLUMNS, TransferQueue

OPENERS = 12
QUEUES = 10


def test_a_new_queue_opened_at_once_by_many(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    for number in range(QUEUES):
        path = tmp_path / str(number) / "queue.sqlite"
        start = threading.Barrier(OPENERS)

        def open_queue(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                TransferQueue(path).close()
            except Exception as error:
                errors.append(error)

        openers = [threading.Thread(target=open_queue) for _ in range(OPENERS)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
    assert not errors, errors
    queue = TransferQueue(tmp_path / "0" / "queue.sqlite")
    try:
        columns = {str(row[1]) for row in queue.db.execute("PRAGMA table_info(instances)")}
    finally:
        queue.close()
    assert set(ADDED_COLUMNS["instances"]) <= columns
