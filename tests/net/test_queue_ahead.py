"""What a sender is spared: the instances of a job it just queued are not read back, and a
queue opened ahead (a warm service's spare child) is the next opening's connection — never
a replaced file's, never one not found whole."""

import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop.net import queue as queue_module
from desktop.net.queue import PENDING, TransferQueue, check_ahead, open_ahead
from desktop.net.store import StoreItem


@pytest.fixture(autouse=True)
def _nothing_ahead() -> None:
    """Each test starts with no queue opened ahead nor found whole by an earlier one."""
    for connection in queue_module._AHEAD.values():
        connection.close()
    queue_module._AHEAD.clear()
    queue_module._FOUND_WHOLE.clear()


def _items(folder: Path, count: int) -> list[StoreItem]:
    folder.mkdir(exist_ok=True)
    items = []
    for number in range(count):
        path = folder / f"{number}.dcm"
        path.write_bytes(b"x" * (100 + number))
        size = 0 if number % 2 else 100 + number  # a size left to the queue to find
        items.append(StoreItem(path, "1.2.3", f"1.2.3.{number}", "1.2.840.10008.1.2.1", size))
    return items


def test_the_instances_of_a_job_just_queued_are_those_it_reads_back(tmp_path: Path) -> None:
    queue = TransferQueue(tmp_path / "queue.sqlite")
    job_id, enqueued = queue.enqueued("pacs", _items(tmp_path / "files", 5), "five")
    assert enqueued == queue.instances(job_id) == queue.instances(job_id, PENDING)
    assert [i.item.size for i in enqueued] == [100, 101, 102, 103, 104]
    assert queue.enqueue("pacs", _items(tmp_path / "more", 1), "one") == job_id + 1


def _job_names(queue: TransferQueue) -> list[str]:
    return [job.description for job in queue.jobs()]


def test_a_queue_opened_ahead_is_the_next_openings_connection_once(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"
    first = TransferQueue(path)
    first.enqueue("pacs", _items(tmp_path / "files", 1), "first")
    first.close()
    check_ahead(path)
    open_ahead(path)
    [ahead] = queue_module._AHEAD.values()
    taken = TransferQueue(path)
    assert taken.db is ahead and _job_names(taken) == ["first"]
    assert TransferQueue(path).db is not ahead  # taken once


def test_a_queue_replaced_after_it_was_opened_ahead_is_opened_anew(tmp_path: Path) -> None:
    """A queue moved aside (damaged, say) and started again meanwhile: the connection made
    ahead is to the old file, which it is closed with."""
    path = tmp_path / "queue.sqlite"
    first = TransferQueue(path)
    first.enqueue("pacs", _items(tmp_path / "files", 1), "old")
    first.db.close()
    check_ahead(path)
    open_ahead(path)
    [ahead] = queue_module._AHEAD.values()
    shutil.move(path, tmp_path / "aside.sqlite")
    TransferQueue(path).enqueue("pacs", _items(tmp_path / "files", 1), "new")
    check_ahead(path)
    queue = TransferQueue(path)
    assert _job_names(queue) == ["new"]
    assert queue.db is not ahead
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        ahead.execute("SELECT 1")


def test_only_a_queue_found_whole_is_opened_ahead(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"
    open_ahead(path)  # none yet
    TransferQueue(path).db.close()
    queue_module._FOUND_WHOLE.clear()
    open_ahead(path)  # not checked
    assert not queue_module._AHEAD
    path.write_bytes(b"not a database at all" * 100)
    check_ahead(path)
    open_ahead(path)  # damaged: left to the opening that says so
    assert not queue_module._AHEAD
