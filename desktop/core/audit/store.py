"""The local audit log: append-only JSON lines, each record chained to the one before by SHA-256.

Layout under DICOM_COURIER_HOME/audit (folder 0700, files 0600):
    log.jsonl   one record a line: seq, time, event, outcome, action, node, summary, xml,
                prev (the hash of the record before) and hash (SHA-256 of prev and the record)
    head.json   the last record's seq and hash, so that deleting records at the end shows too
    lock        taken (flock) for every append, by every process

Editing, inserting or deleting a record breaks the chain at that record; ``verify`` names it.
The chain proves tampering by anyone who does not recompute every later hash; the copy sent
to an audit repository is the answer to someone who does.
"""

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop.core.audit.message import AuditMessage, to_xml
from desktop.core.errors import CourierError
from desktop.core.files import PRIVATE, atomic_output

GENESIS = "0" * 64
FOLDER_MODE = 0o700
TAIL_CHUNK = 65536

log = logging.getLogger(__name__)


class AuditLogError(CourierError):
    """The audit log cannot be read or written."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored audit record."""

    seq: int
    time: str  # ISO 8601, UTC
    event: str  # the EventID code, e.g. 110104
    outcome: int
    action: str
    node: str
    summary: str
    xml: str
    prev: str
    hash: str

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.time)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``verify`` found: how many records hold, and the first broken one if any."""

    records: int
    broken: int | None = None  # the line number (from 1) of the first broken record
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken is None


def chain_hash(prev: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the record's canonical JSON (without its hash)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()


class AuditLog:
    """Append and read the hash-chained log in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "log.jsonl"
        self.head_path = folder / "head.json"

    def append(self, message: AuditMessage, *, node: str = "") -> Entry:
        """Store ``message`` after the last record, under the lock every writer takes."""
        [entry] = self.append_all([(message, node)])
        return entry

    def append_all(self, messages: Sequence[tuple[AuditMessage, str]]) -> list[Entry]:
        """Store each message (with its node) after the last record, in order, under the lock
        every writer takes: one write, one wait for the disk, one head for them all."""
        with self._locked():
            self._cut_torn_tail()
            last = self._last()
            entries = []
            for message, node in messages:
                fields: dict[str, Any] = {
                    "seq": last.seq + 1 if last else 1,
                    "time": message.time.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
                    "event": message.event.code,
                    "outcome": int(message.outcome),
                    "action": message.action,
                    "node": node,
                    "summary": message.summary(),
                    "xml": to_xml(message),
                    "prev": last.hash if last else GENESIS,
                }
                last = Entry(**fields, hash=chain_hash(fields["prev"], fields))
                entries.append(last)
            if not entries:
                return entries
            lines = "".join(json.dumps(e.as_json(), ensure_ascii=False) + "\n" for e in entries)
            self._write_whole(lines.encode("utf-8"))
            self._write_head(entries[-1])
            return entries

    def entries(self) -> Iterator[Entry]:
        """Every record, oldest first (a damaged line raises AuditLogError; verify explains)."""
        for number, line in self._lines():
            yield _entry(line, number)

    def verify(self) -> Verdict:
        """Check every record's hash and link, and that the log ends where head.json says."""
        prev, count, last_seq = GENESIS, 0, 0
        hashes: dict[int, str] = {}
        for number, line in self._lines():
            try:
                entry = _entry(line, number)
            except AuditLogError as error:
                return Verdict(count, number, str(error))
            fields = entry.as_json()
            del fields["hash"]
            if entry.prev != prev:
                return Verdict(
                    count,
                    number,
                    f"record {number} (seq {entry.seq}) does not follow the record before it: "
                    "a record was deleted or inserted here",
                )
            if chain_hash(prev, fields) != entry.hash or entry.seq != last_seq + 1:
                return Verdict(
                    count,
                    number,
                    f"record {number} (seq {entry.seq}) was changed after it was written",
                )
            prev, count, last_seq = entry.hash, count + 1, entry.seq
            hashes[entry.seq] = entry.hash
        head = self._head()
        if head is None and count:
            return Verdict(
                count,
                count + 1,
                f"{self.head_path.name} is missing: the end of the log cannot be vouched for "
                "(records may have been deleted from the end)",
            )
        if head is not None and head["seq"] > last_seq:
            return Verdict(
                count,
                count + 1,
                f"the log ends at record {count} but record {head['seq']} was written: "
                "records were deleted from the end",
            )
        if head is not None and head["hash"] not in hashes.get(head["seq"], head["hash"]):
            return Verdict(count, head["seq"], f"record {head['seq']} was replaced")
        return Verdict(count)

    # -- internals ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.parent.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
        self.folder.mkdir(exist_ok=True, mode=FOLDER_MODE)
        self.folder.chmod(FOLDER_MODE)
        descriptor = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, PRIVATE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def _write_whole(self, data: bytes) -> None:
        """Append ``data`` and wait for the disk; a write cut short (a full disk) is an error
        and leaves the log as it was, never with part of a record that head.json would name."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
        try:
            start = os.fstat(descriptor).st_size
            try:
                written = 0
                while written < len(data):
                    written += os.write(descriptor, data[written:])
                os.fsync(descriptor)
            except OSError as error:
                os.ftruncate(descriptor, start)
                raise AuditLogError(
                    f"the audit log {self.path} cannot be written: {error.strerror or error}"
                ) from error
        finally:
            os.close(descriptor)

    def _cut_torn_tail(self) -> None:
        """Move aside what follows the last whole line: part of a record whose append a crash
        cut short (head.json, written after, never named it). The chain goes on from the last
        whole record; the fragment is kept in ``log.jsonl.torn-<time>``."""
        try:
            descriptor = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(descriptor).st_size
            if size == 0 or os.pread(descriptor, 1, size - 1) == b"\n":
                return  # whole: the usual case, one byte read
            start, tail = size, b""
            while start > 0 and b"\n" not in tail:
                start = max(0, start - TAIL_CHUNK)
                tail = os.pread(descriptor, size - start, start)
            cut = start + tail.rfind(b"\n") + 1  # 0 when no line is whole
            aside = self.folder / f"{self.path.name}.torn-{time.strftime('%Y%m%dT%H%M%S')}"
            with atomic_output(aside) as temporary:
                temporary.write_bytes(os.pread(descriptor, size - cut, cut))
            os.ftruncate(descriptor, cut)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        log.warning(
            "the audit log %s ended with part of a record (an append cut short, never "
            "committed): moved it to %s; the chain goes on from the last whole record",
            self.path,
            aside,
        )

    def _lines(self) -> Iterator[tuple[int, str]]:
        if not self.path.exists():
            return
        try:
            with self.path.open(encoding="utf-8") as stream:
                yield from enumerate(stream, start=1)
        except (OSError, UnicodeDecodeError) as error:
            raise AuditLogError(f"the audit log {self.path} cannot be read: {error}") from error

    def _last(self) -> Entry | None:
        """The last record, read from the end of the file (not the whole log)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        with self.path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            start = size
            tail = b""
            while start > 0 and tail.rstrip(b"\n").count(b"\n") < 1:
                start = max(0, start - TAIL_CHUNK)
                stream.seek(start)
                tail = stream.read(size - start)
        line = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return _entry(line.decode("utf-8"), 0)

    def _write_head(self, entry: Entry) -> None:
        """Replace head.json (atomically, but without waiting for the disk: after a crash it
        may name an earlier record, which verify accepts; never a later one)."""
        temporary = self.head_path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
        try:
            os.write(descriptor, json.dumps({"seq": entry.seq, "hash": entry.hash}).encode())
        finally:
            os.close(descriptor)
        temporary.replace(self.head_path)

    def _head(self) -> dict[str, Any] | None:
        if not self.head_path.exists():
            return None
        try:
            head: dict[str, Any] = json.loads(self.head_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise AuditLogError(f"{self.head_path} is damaged: {error}") from error
        return head


def _entry(line: str, number: int) -> Entry:
    try:
        return Entry(**json.loads(line))
    except (ValueError, TypeError) as error:
        raise AuditLogError(f"record {number} is not a readable audit record: {error}") from None
