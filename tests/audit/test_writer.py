"""Audit records stored on a thread of their own (a command's session): in order, those
waiting stored together, all of them stored when the session ends; a forked process stores
its own at once; a trail that cannot be written never holds up the work."""

import logging
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from desktop import auditing
from desktop.core.audit import events, store
from desktop.core.audit.trail import AuditTrail
from desktop.core.audit.writer import TrailWriter
from tests.audit.test_messages import LOCAL, all_messages
from tests.helpers import cli


def test_records_put_from_threads_are_stored_in_order_and_chained(tmp_path: Path) -> None:
    writer = TrailWriter(AuditTrail(tmp_path, LOCAL))
    messages = list(all_messages().values())
    put: list[str] = []
    lock = threading.Lock()

    def record(first: int) -> None:
        for number in range(first, first + 20):
            with lock:  # the order they are put in is the order they are stored in
                writer.put(messages[number % len(messages)], f"node{number}")
                put.append(f"node{number}")

    threads = [threading.Thread(target=record, args=(n * 20,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    log = store.AuditLog(tmp_path / "audit")
    assert [e.node for e in log.entries()] == put
    assert log.verify().ok and log.verify().records == 80
    writer.close()


def test_records_waiting_together_are_stored_with_one_wait_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    fsync = os.fsync
    monkeypatch.setattr(store.os, "fsync", lambda fd: (synced.append(fd), fsync(fd)))
    trail = AuditTrail(tmp_path, LOCAL)
    entries = trail.record_all([(m, "") for m in list(all_messages().values())[:6]])
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6] and len(synced) == 1
    assert trail.log.verify().ok


def test_a_session_stores_every_record_before_the_command_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the command recorded (its start, its work, its stop) is in the log as soon as
    it has returned: a command run next, or a process that reads the log, sees it all."""
    status, _, _ = cli(capsys, "node", "add", "one", "--ae", "ONE", "--host", "h", "--port", "1")
    assert status == 0
    home = Path(os.environ["DICOM_COURIER_HOME"])
    summaries = [e.summary for e in store.AuditLog(home / "audit").entries()]
    assert summaries[-3:] == [
        "Application Activity (Application Start)",
        summaries[-2],
        "Application Activity (Application Stop)",
    ]
    assert "one" in summaries[-2]
    status, out, _ = cli(capsys, "audit", "--json")  # sees its own start, stored first
    assert status == 0 and out.count("Application Start") == 2


def _record_in_child(folder: str) -> None:
    writer = FORKED[0]
    writer.put(events.application_activity(LOCAL, started=False), "child")
    assert [e.node for e in store.AuditLog(Path(folder)).entries()][-1] == "child"


FORKED: list[TrailWriter] = []


def test_a_forked_process_stores_its_records_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process forked from one with a writer (deid's workers) has no writer thread: what
    it records is stored at once, not left in a copy of a queue nobody reads; forked while
    the writer stores, it does not inherit the log's lock held by a thread it lacks."""
    storing = threading.Event()
    write_head = store.AuditLog._write_head

    def slow_head(log: store.AuditLog, entry: store.Entry) -> None:
        storing.set()  # the log's lock is held: a fork now copies it
        threading.Event().wait(0.3)
        write_head(log, entry)

    monkeypatch.setattr(store.AuditLog, "_write_head", slow_head)
    writer = TrailWriter(AuditTrail(tmp_path, LOCAL))
    writer.put(events.application_activity(LOCAL, started=True), "parent")
    FORKED[:] = [writer]
    assert storing.wait(10)
    child = multiprocessing.get_context("fork").Process(
        target=_record_in_child, args=(str(tmp_path / "audit"),)
    )
    child.start()
    child.join(10)
    child.kill()
    assert child.exitcode == 0
    writer.close()
    assert sorted(e.node for e in store.AuditLog(tmp_path / "audit").entries()) == [
        "child",
        "parent",
    ]


def test_a_trail_that_cannot_be_written_holds_nothing_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the home's audit folder would be")
    auditing.install(blocked, background=True)
    try:
        with caplog.at_level(logging.WARNING):
            auditing.application(started=True)
            auditing.flush()
    finally:
        auditing.uninstall()
    assert "the audit trail could not record 1 event(s)" in caplog.text


def test_the_writer_thread_does_not_keep_a_command_from_forking_workers(tmp_path: Path) -> None:
    """deid forks its workers only when no other thread could leave a lock held: the
    writer's thread (whose storing waits out a fork) is not one of those, another thread is."""
    from desktop.core.forking import unsafe_threads

    writer = TrailWriter(AuditTrail(tmp_path, LOCAL))
    writer.put(events.application_activity(LOCAL, started=True))
    assert not [t for t in unsafe_threads() if t.name == "audit"]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert other in unsafe_threads()
    finally:
        stop.set()
        other.join()
        writer.close()
