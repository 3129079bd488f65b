"""The durable transfer queue: SQLite under DICOM_COURIER_HOME, written before a byte is sent.

Every instance's state is committed as soon as the peer answers, so a process killed at any
moment resumes with exactly the instances that were not acknowledged.
"""

import logging
import sqlite3
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from desktop.core.errors import CourierError
from desktop.core.files import private_file, private_folder
from desktop.net.store import StoreItem, StoreOutcome, file_sha256

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    description TEXT NOT NULL,
    created REAL NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0,
    deidentified TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS instances (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    seq INTEGER NOT NULL,
    path TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    transfer_syntax_uid TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    status INTEGER,
    message TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, seq)
);
"""
PENDING, SENT, FAILED = "pending", "sent", "failed"
DAMAGED_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
SIDE_FILES = ("-wal", "-shm")
HASHING_THREADS = 4
SETTLED_NS = 2_000_000_000  # a file changed this recently may change again unseen (same tick)
Signature = tuple[int, int, int, int]  # size, mtime, ctime (ns), inode

logger = logging.getLogger(__name__)


class QueueError(CourierError):
    """A job does not exist or cannot do what was asked."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Transient failures wait base × 2^(attempt-1) s (at most ``cap``), ``attempts`` times."""

    attempts: int = 5
    base: float = 2.0
    cap: float = 300.0

    def delay(self, attempt: int) -> float:
        return float(min(self.base * 2 ** (attempt - 1), self.cap))


@dataclass(frozen=True, slots=True)
class JobSummary:
    id: int
    node: str
    description: str
    created: float
    cancelled: bool
    total: int
    sent: int
    failed: int
    pending: int
    bytes_total: int
    bytes_sent: int
    deidentified: str = ""  #: how its copies were de-identified ('' for originals)

    @property
    def state(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.pending:
            return "pending"
        return "failed" if self.failed else "done"


@dataclass(frozen=True, slots=True)
class QueuedInstance:
    job_id: int
    seq: int
    item: StoreItem
    state: str
    message: str
    note: str
    attempts: int
    next_attempt: float


class _DamagedError(Exception):
    """The database file is not a database, or fails SQLite's integrity check."""


class TransferQueue:
    """Jobs and their instances, persisted in one SQLite file."""

    def __init__(self, path: Path) -> None:
        private_folder(path.parent)
        try:
            self.db = _open(path)
        except _DamagedError as damage:
            aside = _move_aside(path)
            logger.warning(
                "the queue database %s is damaged (%s): moved it aside to %s and started an "
                "empty queue; the jobs it held must be sent again",
                path,
                damage,
                aside,
            )
            self.db = _open(path)
        self._hashed: dict[tuple[str, str], Signature] = {}

    def close(self) -> None:
        self.db.close()

    def enqueue(
        self, node: str, items: Iterable[StoreItem], description: str, *, deidentified: str = ""
    ) -> int:
        """A new job; each file's size and SHA-256 are recorded before anything is sent.
        ``deidentified`` says how, when the items are de-identified copies."""
        items = list(items)
        with ThreadPoolExecutor(HASHING_THREADS) as pool:  # hashlib hashes without the GIL
            digests = list(pool.map(lambda i: i.sha256 or self._hash(i.path), items))
        rows = [
            (
                i.path,
                i.sop_class_uid,
                i.sop_instance_uid,
                i.transfer_syntax_uid,
                i.size or i.path.stat().st_size,
                digest,
            )
            for i, digest in zip(items, digests, strict=True)
        ]
        if not rows:
            raise QueueError("nothing to send")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute(
                "INSERT INTO jobs (node, description, created, deidentified) VALUES (?, ?, ?, ?)",
                (node, description, time.time(), deidentified),
            )
            job_id = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO instances (job_id, seq, path, sop_class_uid, sop_instance_uid, "
                "transfer_syntax_uid, size, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, seq, str(p), c, u, t, s, h)
                    for seq, (p, c, u, t, s, h) in enumerate(rows)
                ],
            )
        return job_id

    def _hash(self, path: Path) -> str:
        """The file's SHA-256, remembered with the file's signature taken just before."""
        signature = _signature(path)
        digest = file_sha256(path)
        if signature[2] < time.time_ns() - SETTLED_NS:
            self._hashed[(str(path), digest)] = signature
        return digest

    def for_sending(self, item: StoreItem) -> StoreItem:
        """``item`` as ``store`` should check it: without its SHA-256 (not computed a second
        time) when this queue hashed the file itself and its size, times and inode are those
        it had then; a change of content changes the ctime, which no one can set back."""
        signature = self._hashed.get((str(item.path), item.sha256))
        try:
            unchanged = signature is not None and _signature(item.path) == signature
        except OSError:
            unchanged = False
        return replace(item, sha256="") if unchanged else item

    def jobs(self) -> list[JobSummary]:
        ids = [row[0] for row in self.db.execute("SELECT id FROM jobs ORDER BY id")]
        return [self.job(job_id) for job_id in ids]

    def job(self, job_id: int) -> JobSummary:
        row = self.db.execute(
            "SELECT node, description, created, cancelled, deidentified FROM jobs WHERE id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            raise QueueError(f"no job {job_id} in the queue")
        counts = dict.fromkeys((PENDING, SENT, FAILED), 0)
        sizes = dict.fromkeys((PENDING, SENT, FAILED), 0)
        for state, count, size in self.db.execute(
            "SELECT state, COUNT(*), SUM(size) FROM instances WHERE job_id = ? GROUP BY state",
            (job_id,),
        ):
            counts[state], sizes[state] = count, size or 0
        return JobSummary(
            job_id,
            row[0],
            row[1],
            row[2],
            bool(row[3]),
            sum(counts.values()),
            counts[SENT],
            counts[FAILED],
            counts[PENDING],
            sum(sizes.values()),
            sizes[SENT],
            row[4],
        )

    def instances(self, job_id: int, state: str | None = None) -> list[QueuedInstance]:
        query = (
            "SELECT job_id, seq, path, sop_class_uid, sop_instance_uid, transfer_syntax_uid,"
            " size, sha256, state, message, note, attempts, next_attempt FROM instances "
            "WHERE job_id = ?" + (" AND state = ?" if state else "") + " ORDER BY seq"
        )
        parameters = (job_id, state) if state else (job_id,)
        return [
            QueuedInstance(
                r[0],
                r[1],
                StoreItem(Path(r[2]), r[3], r[4], r[5], r[6], r[7]),
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
            )
            for r in self.db.execute(query, parameters)
        ]

    def record(
        self, instance: QueuedInstance, outcome: StoreOutcome, policy: RetryPolicy, now: float
    ) -> None:
        """Commit an instance's outcome: sent, failed, or pending again after a backoff."""
        attempts = instance.attempts + 1
        if outcome.ok:
            state, next_attempt = SENT, 0.0
        elif outcome.transient and attempts < policy.attempts:
            state, next_attempt = PENDING, now + policy.delay(attempts)
        else:
            state, next_attempt = FAILED, 0.0
        status = outcome.status.code if outcome.status else None
        self.db.execute(
            "UPDATE instances SET state = ?, status = ?, message = ?, note = ?, attempts = ?, "
            "next_attempt = ? WHERE job_id = ? AND seq = ?",
            (
                state,
                status,
                outcome.message,
                outcome.note,
                attempts,
                next_attempt,
                instance.job_id,
                instance.seq,
            ),
        )

    def retry(self, job_id: int) -> int:
        """Make a job's failed instances, and those waiting out a backoff, due now; returns
        how many."""
        self.job(job_id)
        with self.db:
            self.db.execute("UPDATE jobs SET cancelled = 0 WHERE id = ?", (job_id,))
            cursor = self.db.execute(
                "UPDATE instances SET state = ?, attempts = 0, next_attempt = 0 "
                "WHERE job_id = ? AND (state = ? OR (state = ? AND attempts > 0))",
                (PENDING, job_id, FAILED, PENDING),
            )
        return cursor.rowcount

    def reason(self, job_id: int) -> str:
        """Why the job's last unsent instance was not stored ('' when none failed)."""
        row = self.db.execute(
            "SELECT message FROM instances WHERE job_id = ? AND state != ? AND message != '' "
            "ORDER BY attempts DESC, seq LIMIT 1",
            (job_id, SENT),
        ).fetchone()
        return str(row[0]) if row else ""

    def cancel(self, job_id: int) -> None:
        self.job(job_id)
        self.db.execute("UPDATE jobs SET cancelled = 1 WHERE id = ?", (job_id,))

    def runnable(self) -> list[int]:
        """Jobs with pending instances that are not cancelled, oldest first."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT DISTINCT j.id FROM jobs j JOIN instances i ON i.job_id = j.id "
                "WHERE j.cancelled = 0 AND i.state = ? ORDER BY j.id",
                (PENDING,),
            )
        ]


def _open(path: Path) -> sqlite3.Connection:
    """The database with its schema, every file of it 0600 (SQLite gives the WAL and shared
    memory files the mode of the database file); _DamagedError when the file is damaged."""
    private_file(path)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.chmod(0o600)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
        db.executescript(SCHEMA)
        _add_missing_columns(db)
        problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as error:
        db.close()
        if error.sqlite_errorcode in DAMAGED_CODES:
            raise _DamagedError(str(error)) from error
        raise
    if problems != ["ok"]:
        db.close()
        raise _DamagedError("; ".join(problems[:3]))
    return db


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a queue written by an earlier version up to the schema (its jobs kept)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    if "deidentified" not in columns:
        db.execute("ALTER TABLE jobs ADD COLUMN deidentified TEXT NOT NULL DEFAULT ''")


def _move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL and shared memory) to ``*.corrupt-<time>``."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", *SIDE_FILES):
        damaged = path.with_name(path.name + suffix)
        if damaged.exists():
            damaged.rename(aside.with_name(aside.name + suffix))
    return aside


def _signature(path: Path) -> Signature:
    status = path.stat()
    return status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino
