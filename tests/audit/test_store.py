"""The local audit log: hash-chained, append-only, shared safely by processes; the CLI."""

import itertools
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from desktop.core.audit import events
from desktop.core.audit.store import AuditLog
from tests.audit.schema import schema_errors
from tests.audit.test_messages import LOCAL, all_messages
from tests.helpers import cli


def filled(folder: Path, count: int = 5) -> AuditLog:
    log = AuditLog(folder)
    messages = list(all_messages().values())
    for number in range(count):
        log.append(messages[number % len(messages)], node=f"node{number}")
    return log


def rewrite(log: AuditLog, change: object) -> None:
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text("".join(change(lines)))  # type: ignore[operator]


def test_records_are_chained_private_and_valid(tmp_path: Path) -> None:
    log = filled(tmp_path / "new-home" / "audit")
    entries = list(log.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert stat.S_IMODE((tmp_path / "new-home").stat().st_mode) == 0o700
    assert all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    assert log.verify().ok and log.verify().records == 5
    assert stat.S_IMODE(log.folder.stat().st_mode) == 0o700
    for path in (log.path, log.head_path, log.folder / "lock"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert all(schema_errors(e.xml) == [] for e in entries)


def test_editing_a_record_breaks_verify_at_that_record(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit")

    def edit(lines: list[str]) -> list[str]:
        record = json.loads(lines[2])
        record["outcome"] = 0 if record["outcome"] else 4
        lines[2] = json.dumps(record) + "\n"
        return lines

    rewrite(log, edit)
    verdict = log.verify()
    assert (verdict.ok, verdict.broken, verdict.records) == (False, 3, 2)
    assert "changed" in verdict.reason


def test_deleting_a_record_breaks_verify(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit")
    rewrite(log, lambda lines: lines[:1] + lines[2:])
    verdict = log.verify()
    assert (verdict.ok, verdict.broken) == (False, 2)
    assert "deleted" in verdict.reason


def test_deleting_the_last_records_breaks_verify(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit")
    rewrite(log, lambda lines: lines[:3])
    verdict = log.verify()
    assert (verdict.ok, verdict.broken) == (False, 4)
    assert "deleted from the end" in verdict.reason


def test_deleting_the_last_records_and_the_head_breaks_verify(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit")
    rewrite(log, lambda lines: lines[:3])
    log.head_path.unlink()
    verdict = log.verify()
    assert (verdict.ok, verdict.broken) == (False, 4)
    assert "head.json is missing: the end of the log cannot be vouched for" in verdict.reason
    assert AuditLog(tmp_path / "empty").verify().ok  # a log never written has no head


def _append_many(folder: str) -> None:
    log = AuditLog(Path(folder))
    for _ in range(20):
        log.append(events.application_activity(LOCAL, started=True))


def test_processes_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(folder),)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    log = AuditLog(folder)
    assert log.verify().ok
    assert [e.seq for e in log.entries()] == list(range(1, 81))


def test_cli_records_its_sessions_and_lists_and_verifies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = Path(os.environ["DICOM_COURIER_HOME"])
    assert cli(capsys, "node", "list")[0] == 0
    status, out, _ = cli(capsys, "audit", "--json", "--event", "110100")
    assert status == 0
    entries = json.loads(out)
    assert [e["summary"] for e in entries] == [
        "Application Activity (Application Start)",
        "Application Activity (Application Stop)",
    ]
    assert all(schema_errors(e["xml"]) == [] for e in entries)
    assert json.loads(cli(capsys, "audit", "--json", "--since", "2099-01-01")[1]) == []
    assert len(json.loads(cli(capsys, "audit", "--json", "--since", "5m")[1])) == 2
    status, out, _ = cli(capsys, "audit", "verify")
    assert status == 0 and "2 record(s)" in out
    log = AuditLog(home / "audit")
    rewrite(
        log, lambda lines: [lines[0].replace("Application Start", "Application Stop"), *lines[1:]]
    )
    status, _, err = cli(capsys, "audit", "verify")
    assert status == 1
    assert "BROKEN at record 1" in err
    status, _, err = cli(capsys, "audit", "--event", "999")
    assert status == 1 and "unknown event ID '999'" in err


def test_a_torn_last_record_is_moved_aside_and_the_chain_goes_on(tmp_path: Path) -> None:
    """A crash during an append leaves part of a line that head.json never named (E3 of
    findings8): the next append keeps it aside and chains from the last whole record."""
    log = filled(tmp_path / "audit", 3)
    torn = '{"seq": 4, "time": "2026-11-27T08:'
    with log.path.open("a") as stream:
        stream.write(torn)
    [entry] = log.append_all([(all_messages()["begin"], "pacs")])
    assert entry.seq == 4
    assert log.verify().ok and log.verify().records == 4
    [aside] = log.folder.glob("log.jsonl.torn-*")
    assert aside.read_text() == torn
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600


def _append_beyond(folder: Path, limit: int, result: "multiprocessing.Queue[str]") -> None:
    """Append a record in a process whose files may not grow past ``limit`` bytes."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a short write, then EFBIG, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        AuditLog(folder).append(all_messages()["begin"], node="pacs")
    except Exception as error:
        result.put(f"{type(error).__name__}: {error}")
    else:
        result.put("stored")


def test_a_record_the_disk_cannot_hold_is_refused_and_leaves_the_log_whole(
    tmp_path: Path,
) -> None:
    """A short write (a full disk, a file size limit) is an error, and the log is cut back
    to where it was: head.json never names a record only half on disk (E3 of findings8)."""
    log = filled(tmp_path / "audit", 3)
    size, head = log.path.stat().st_size, log.head_path.read_bytes()
    result: multiprocessing.Queue[str] = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(
        target=_append_beyond, args=(log.folder, size + 100, result)
    )
    child.start()
    child.join(30)
    assert result.get(timeout=5).startswith("AuditLogError")
    assert log.path.stat().st_size == size and log.head_path.read_bytes() == head
    assert log.verify().ok and log.verify().records == 3
    assert log.append(all_messages()["begin"]).seq == 4
