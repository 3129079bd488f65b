"""The durable transfer queue: SQLite under DICOM_COURIER_HOME, written before a byte is sent.

Every instance's state is committed as soon as the peer answers, so a process killed at any
moment resumes with exactly the instances that were not acknowledged.

What proves that a file sent is the one queued: its state (size, times, inode: see
core/file_state), taken as it is queued without reading it, and its SHA-256 where the state
cannot vouch (a file changed within the last seconds: hashed as it is queued). The send
reads each file once: it hashes the bytes as they go where a SHA-256 was queued, and checks
the SHA-256 or the state before the data set's last fragment leaves.
"""

import functools
import logging
import sqlite3
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypedDict, TypeVar, cast

from desktop.core.errors import CourierError
from desktop.core.file_state import file_state, settled
from desktop.core.files import private_file, private_folder
from desktop.net.store import StoreItem, StoreOutcome, file_sha256

if TYPE_CHECKING:
    from typing_extensions import Unpack

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    description TEXT NOT NULL,
    created REAL NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0,
    deidentified TEXT NOT NULL DEFAULT '',
    compression TEXT NOT NULL DEFAULT ''
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
CREATE TABLE IF NOT EXISTS commitments (
    transaction_uid TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    ae_title TEXT NOT NULL,
    requested REAL NOT NULL,
    answered REAL
);
"""
# Columns added after the first release, by table: a queue written by it gains them on opening.
ADDED_COLUMNS = {
    "jobs": {
        "deidentified": "TEXT NOT NULL DEFAULT ''",  # how its copies were de-identified
        "compression": "TEXT NOT NULL DEFAULT ''",  # the send's --compress ('': the node's)
    },
    "instances": {
        "commitment": "TEXT NOT NULL DEFAULT ''",  # '', WAITING, COMMITTED or FAILED
        "commitment_reason": "TEXT NOT NULL DEFAULT ''",
        "transaction_uid": "TEXT NOT NULL DEFAULT ''",
        "state_when_queued": "TEXT NOT NULL DEFAULT ''",  # core/file_state: '' before
        "dataset_offset": "INTEGER NOT NULL DEFAULT 0",  # from the scan (0: read when sent)
    },
}
PENDING, SENT, FAILED = "pending", "sent", "failed"
WAITING, COMMITTED = "waiting", "committed"  # commitment states (and FAILED)
STATES = frozenset({PENDING, SENT, FAILED})
COMMITMENTS = frozenset({"", WAITING, COMMITTED, FAILED})
DAMAGED_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
#: What Python's sqlite3 says of text that is not UTF-8 (the queue writes only UTF-8).
NOT_TEXT = "Could not decode to UTF-8"
#: The types of a job's row as ``job`` reads it (created may read back as an integer).
JOB_TYPES = (str, str, float | int, int, str, str)
BUSY = 5  # SQLITE_BUSY
BUSY_SECONDS = 30.0  # how long a statement waits for another process's lock
SIDE_FILES = ("-wal", "-shm")
HASHING_THREADS = 4

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
    committed: int = 0
    commit_failed: int = 0
    commit_waiting: int = 0
    deidentified: str = ""  #: how its copies were de-identified ('' for originals)
    compression: str = ""  #: the send's own compression for the wire ('': the node's)

    @property
    def state(self) -> str:
        """cancelled, pending, failed or done; with storage commitment requested, a job with
        every instance sent is "committed" only when every one of them is."""
        if self.cancelled:
            return "cancelled"
        if self.pending:
            return "pending"
        if self.failed:
            return "failed"
        if self.commit_failed:
            return "commitment failed"
        if self.commit_waiting:
            return "waiting for commitment"
        return "committed" if self.committed and self.committed == self.total else "done"

    def moved(self, size: int, before: str, after: str, *, cancelled: bool) -> "JobSummary":
        """The counts once an instance of ``size`` bytes went from state ``before`` to
        ``after`` (what ``record`` did: no need to count the job's rows again)."""
        counts = {PENDING: self.pending, SENT: self.sent, FAILED: self.failed}
        counts[before] -= 1
        counts[after] += 1
        moved_bytes = (after == SENT) - (before == SENT)
        return replace(
            self,
            cancelled=cancelled,
            sent=counts[SENT],
            failed=counts[FAILED],
            pending=counts[PENDING],
            bytes_sent=self.bytes_sent + moved_bytes * size,
        )

    def commitment(self) -> str:
        """The commitment counts in words ('' when none was requested)."""
        if not (self.committed or self.commit_failed or self.commit_waiting):
            return ""
        parts = [f"{self.committed} committed"]
        if self.commit_failed:
            parts.append(f"{self.commit_failed} not committed")
        if self.commit_waiting:
            parts.append(f"{self.commit_waiting} waiting for commitment")
        return ", ".join(parts)


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
    commitment: str = ""
    commitment_reason: str = ""


@dataclass(frozen=True, slots=True)
class AppliedReport:
    """What a storage commitment report changed, or why it was ignored ('' if it was not)."""

    ignored: str = ""
    job_id: int = 0
    committed: int = 0
    failed: int = 0
    unknown: tuple[str, ...] = ()  # instances it named that the transaction did not


class _Job(TypedDict, total=False):
    """The options of ``TransferQueue.enqueued``."""

    hashing_threads: int
    deidentified: str
    compression: str


class _DamagedError(Exception):
    """The database file is not a database, or fails SQLite's integrity check."""


class _GarbageError(Exception):
    """A value the queue never writes read back: a page damaged in a way SQLite cannot tell
    from data (a state or a type garbled, a listed job gone)."""


Args = ParamSpec("Args")
Result = TypeVar("Result")
Queue = TypeVar("Queue", bound="TransferQueue")


def _saying_damage(cls: type[Queue]) -> type[Queue]:
    """Each public method of ``cls``: damage its queries meet (a page damaged since the
    database was found whole: a warm service checks it once for all its commands) said in
    plain words, the database moved aside as at opening, not an SQLite traceback."""
    for name, method in list(vars(cls).items()):
        if isinstance(method, types.FunctionType) and not name.startswith("_") and name != "close":
            setattr(cls, name, _damage_said(method))
    return cls


def _damage_said(
    method: "Callable[Concatenate[TransferQueue, Args], Result]",
) -> "Callable[Concatenate[TransferQueue, Args], Result]":
    @functools.wraps(method)
    def said(queue: "TransferQueue", /, *args: Args.args, **kwargs: Args.kwargs) -> Result:
        try:
            return method(queue, *args, **kwargs)
        except _GarbageError as garbage:
            raise queue._damaged(str(garbage)) from None
        except sqlite3.DatabaseError as error:
            code = getattr(error, "sqlite_errorcode", None)  # none from Python's own checks
            if code in DAMAGED_CODES:
                raise queue._damaged(str(error)) from None
            if code is None and str(error).startswith(NOT_TEXT):
                raise queue._damaged("text that is not UTF-8 where the queue wrote text") from None
            raise

    return said


@_saying_damage
class TransferQueue:
    """Jobs and their instances, persisted in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_folder(path.parent)
        try:
            self.db = _opened_ahead(path) or _open(path)
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

    def close(self) -> None:
        self.db.close()

    def _damaged(self, reason: str) -> QueueError:
        """The database was found damaged in use: moved aside, an empty one opened in its
        place; the error that says so."""
        self.db.close()
        aside = _move_aside(self.path)
        self.db = _open(self.path)
        return QueueError(
            f"the queue database {self.path} is damaged ({reason}): moved it aside to {aside} "
            "and started an empty queue; the jobs it held must be sent again"
        )

    def enqueue(
        self, node: str, items: Iterable[StoreItem], description: str, **options: "Unpack[_Job]"
    ) -> int:
        """A new job's id (see ``enqueued``)."""
        job_id, _ = self.enqueued(node, items, description, **options)
        return job_id

    def enqueued(
        self,
        node: str,
        items: Iterable[StoreItem],
        description: str,
        *,
        hashing_threads: int = HASHING_THREADS,
        deidentified: str = "",
        compression: str = "",
    ) -> tuple[int, list[QueuedInstance]]:
        """A new job, and its instances as recorded (all pending: what its sender would
        otherwise read back at once, ~4 ms for 200). Each file's size and state (and SHA-256,
        where the state cannot vouch for it) are recorded before anything is sent (``hashed``
        first, when the caller has other work to overlap the hashing with). ``deidentified``
        says how, when the items are de-identified copies."""
        stored = [
            replace(i, size=i.path.stat().st_size) if not i.size else i
            for i in self.hashed(items, hashing_threads=hashing_threads)
        ]
        rows = [
            (
                i.path,
                i.sop_class_uid,
                i.sop_instance_uid,
                i.transfer_syntax_uid,
                i.size,
                i.sha256,
                i.state_when_queued,
                i.dataset_offset,
            )
            for i in stored
        ]
        if not rows:
            raise QueueError("nothing to send")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute(
                "INSERT INTO jobs (node, description, created, deidentified, compression) "
                "VALUES (?, ?, ?, ?, ?)",
                (node, description, time.time(), deidentified, compression),
            )
            job_id = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO instances (job_id, seq, path, sop_class_uid, sop_instance_uid, "
                "transfer_syntax_uid, size, sha256, state_when_queued, dataset_offset) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(job_id, seq, str(p), *rest) for seq, (p, *rest) in enumerate(rows)],
            )
        return job_id, [
            QueuedInstance(job_id, seq, item, PENDING, "", "", 0, 0.0)
            for seq, item in enumerate(stored)
        ]

    def hashed(
        self, items: Iterable[StoreItem], *, hashing_threads: int = HASHING_THREADS
    ) -> list[StoreItem]:
        """``items`` with each file's state as it is now, and the SHA-256 of each file whose
        state cannot vouch for it (changed within the last seconds: a copy just made, a file
        just written) and that has none yet; the others are read only as they are sent.
        Hashing threads take the GIL between reads: a GUI keeps its thread running with one."""
        items = [i if i.state_when_queued else self._with_state(i) for i in items]
        unhashed = [i for i in items if not i.sha256 and not i.state_when_queued]
        if not unhashed:
            return items
        if hashing_threads > 1:
            from concurrent.futures import ThreadPoolExecutor  # only for files to hash

            with ThreadPoolExecutor(hashing_threads) as pool:  # hashlib hashes without the GIL
                digests = list(pool.map(lambda i: self._hash(i.path), unhashed))
        else:  # no pool: its 2,000 futures are more work for the GIL than the hashing
            digests = [self._hash(i.path) for i in unhashed]
        found = dict(zip(map(id, unhashed), digests, strict=True))
        return [replace(i, sha256=found[id(i)]) if id(i) in found else i for i in items]

    @staticmethod
    def _with_state(item: StoreItem) -> StoreItem:
        """``item`` with its file's state, when that state vouches for the file; else as it is
        (it is hashed). A file that cannot be read is queued without either: its send fails
        with the reason."""
        try:
            status = item.path.stat()
        except OSError:
            return item
        return replace(item, state_when_queued=file_state(status)) if settled(status) else item

    @staticmethod
    def _hash(path: Path) -> str:
        try:
            return file_sha256(path)
        except OSError:  # fails as it is sent, with the reason
            return ""

    def jobs(self) -> list[JobSummary]:
        ids = [row[0] for row in self.db.execute("SELECT id FROM jobs ORDER BY id")]
        summaries = [self._summary(job_id) for job_id in ids]
        if None in summaries:  # jobs are never deleted: a listed one is there
            raise _GarbageError("a job listed by its number cannot be read by it")
        orphan = self.db.execute(
            "SELECT job_id FROM instances WHERE job_id NOT IN (SELECT id FROM jobs) LIMIT 1"
        ).fetchone()
        if orphan is not None:  # an instance is queued with its job, in one transaction
            raise _GarbageError(f"an instance names job {orphan[0]!r}, which is not there")
        return cast(list[JobSummary], summaries)

    def job(self, job_id: int) -> JobSummary:
        summary = self._summary(job_id)
        if summary is None:
            raise QueueError(f"no job {job_id} in the queue")
        return summary

    def _summary(self, job_id: int) -> JobSummary | None:
        """The job's summary; None when there is no such job; _GarbageError when its rows
        hold values the queue never writes."""
        row = self.db.execute(
            "SELECT node, description, created, cancelled, deidentified, compression FROM jobs "
            "WHERE id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        if not all(isinstance(value, kind) for value, kind in zip(row, JOB_TYPES, strict=True)):
            raise _GarbageError(f"job {job_id} holds values the queue never writes: {row!r}")
        counts = dict.fromkeys((PENDING, SENT, FAILED), 0)
        sizes = dict.fromkeys((PENDING, SENT, FAILED), 0)
        commitment = dict.fromkeys((COMMITTED, FAILED, WAITING, ""), 0)
        for state, committed, count, size in self.db.execute(
            "SELECT state, commitment, COUNT(*), SUM(size) FROM instances WHERE job_id = ? "
            "GROUP BY state, commitment",
            (job_id,),
        ):
            if state not in STATES or committed not in COMMITMENTS or not isinstance(size, int):
                raise _GarbageError(
                    f"an instance of job {job_id} holds values the queue never writes: state "
                    f"{state!r}, commitment {committed!r}, size {size!r}"
                )
            counts[state] += count
            sizes[state] += size or 0
            commitment[committed] += count
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
            commitment[COMMITTED],
            commitment[FAILED],
            commitment[WAITING],
            row[4],
            row[5],
        )

    def instances(self, job_id: int, state: str | None = None) -> list[QueuedInstance]:
        query = (
            "SELECT job_id, seq, path, sop_class_uid, sop_instance_uid, transfer_syntax_uid,"
            " size, sha256, state, message, note, attempts, next_attempt, commitment,"
            " commitment_reason, state_when_queued, dataset_offset FROM instances "
            "WHERE job_id = ?" + (" AND state = ?" if state else "") + " ORDER BY seq"
        )
        parameters = (job_id, state) if state else (job_id,)
        rows = self.db.execute(query, parameters).fetchall()
        for r in rows:
            if r[8] not in STATES or r[13] not in COMMITMENTS or not isinstance(r[6], int):
                raise _GarbageError(
                    f"instance {r[1]!r} of job {job_id} holds values the queue never writes: "
                    f"state {r[8]!r}, commitment {r[13]!r}, size {r[6]!r}"
                )
        return [
            QueuedInstance(
                r[0],
                r[1],
                StoreItem(Path(r[2]), r[3], r[4], r[5], r[6], r[7], r[16], r[15]),
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                r[14],
            )
            for r in rows
        ]

    def states(self, job_id: int, state: str | None = None) -> dict[str, tuple[str, str]]:
        """Each instance's state and file path by its SOP Instance UID (only those in
        ``state``, when given): what an audit record needs, without building every
        ``QueuedInstance`` (nor a Path of each file)."""
        query = (
            "SELECT sop_instance_uid, state, path FROM instances WHERE job_id = ?"
            + (" AND state = ?" if state else "")
            + " ORDER BY seq"
        )
        parameters = (job_id, state) if state else (job_id,)
        return {uid: (now, path) for uid, now, path in self.db.execute(query, parameters)}

    # -- storage commitment ----------------------------------------------------------------

    def begin_commitment(
        self, job_id: int, transaction_uid: str, ae_title: str, *, again: bool = False
    ) -> list[StoreItem]:
        """Record a transaction for the job's sent instances not yet committed (with
        ``again``, all it sent: the archive is asked whether it still holds them); they wait
        for it from now on. Returns them: what the N-ACTION names (none: nothing recorded)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            named = self.db.execute(
                "UPDATE instances SET commitment = ?, commitment_reason = '', transaction_uid = ? "
                "WHERE job_id = ? AND state = ? AND (? OR commitment != ?)",
                (WAITING, transaction_uid, job_id, SENT, again, COMMITTED),
            ).rowcount
            if named:
                self.db.execute(
                    "INSERT INTO commitments (transaction_uid, job_id, ae_title, requested) "
                    "VALUES (?, ?, ?, ?)",
                    (transaction_uid, job_id, ae_title, time.time()),
                )
        return [
            StoreItem(Path(r[0]), r[1], r[2], r[3])
            for r in self.db.execute(
                "SELECT path, sop_class_uid, sop_instance_uid, transfer_syntax_uid "
                "FROM instances WHERE transaction_uid = ? ORDER BY seq",
                (transaction_uid,),
            )
        ]

    def abandon_commitment(self, transaction_uid: str, reason: str) -> None:
        """The request could not be made: its instances are not waiting any more."""
        with self.db:
            self.db.execute(
                "UPDATE instances SET commitment = ?, commitment_reason = ? "
                "WHERE transaction_uid = ? AND commitment = ?",
                (FAILED, reason, transaction_uid, WAITING),
            )
            self.db.execute(
                "UPDATE commitments SET answered = ? WHERE transaction_uid = ?",
                (time.time(), transaction_uid),
            )

    def job_of_transaction(self, transaction_uid: str) -> int | None:
        row = self.db.execute(
            "SELECT job_id FROM commitments WHERE transaction_uid = ?", (transaction_uid,)
        ).fetchone()
        return int(row[0]) if row else None

    def commitment_answered(self, transaction_uid: str) -> bool:
        row = self.db.execute(
            "SELECT answered FROM commitments WHERE transaction_uid = ?", (transaction_uid,)
        ).fetchone()
        return row is not None and row[0] is not None

    def apply_report(
        self,
        transaction_uid: str,
        sender_ae: str,
        committed: Iterable[tuple[str, str]],
        failed: Iterable[tuple[str, str, str]],
    ) -> AppliedReport:
        """Match a report to our transaction: its instances (class, instance UID) become
        committed or failed (with the reason in words). A report for a transaction we never
        made, from another AE than the one asked, or answered already, changes nothing; the
        instances it names that the transaction did not are listed, never recorded."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute(
                "SELECT job_id, ae_title, answered FROM commitments WHERE transaction_uid = ?",
                (transaction_uid,),
            ).fetchone()
            if row is None:
                return AppliedReport(f"no transaction {transaction_uid} of ours awaits a report")
            job_id, ae_title, answered = row
            if sender_ae != ae_title:
                return AppliedReport(
                    f"the report for transaction {transaction_uid} came from {sender_ae!r}, "
                    f"but it was asked of {ae_title!r}",
                    job_id,
                )
            if answered is not None:
                return AppliedReport(f"transaction {transaction_uid} was answered already", job_id)
            members = {
                (str(c), str(u))
                for c, u in self.db.execute(
                    "SELECT sop_class_uid, sop_instance_uid FROM instances "
                    "WHERE transaction_uid = ?",
                    (transaction_uid,),
                )
            }
            outcomes = [(key, COMMITTED, "") for key in committed]
            outcomes += [((c, u), FAILED, reason) for c, u, reason in failed]
            unknown = tuple(u for (c, u), _, _ in outcomes if (c, u) not in members)
            counts = {COMMITTED: 0, FAILED: 0}
            for (sop_class, sop_instance), state, reason in outcomes:
                if (sop_class, sop_instance) not in members:
                    continue
                counts[state] += self.db.execute(
                    "UPDATE instances SET commitment = ?, commitment_reason = ? "
                    "WHERE transaction_uid = ? AND sop_class_uid = ? AND sop_instance_uid = ?",
                    (state, reason, transaction_uid, sop_class, sop_instance),
                ).rowcount
            self.db.execute(
                "UPDATE commitments SET answered = ? WHERE transaction_uid = ?",
                (time.time(), transaction_uid),
            )
        if unknown:
            logger.warning(
                "the commitment report for %s names %d instance(s) it did not ask about",
                transaction_uid,
                len(unknown),
            )
        return AppliedReport("", job_id, counts[COMMITTED], counts[FAILED], unknown)

    def record(
        self, instance: QueuedInstance, outcome: StoreOutcome, policy: RetryPolicy, now: float
    ) -> str:
        """Commit an instance's outcome: sent, failed, or pending again after a backoff (the
        state it is in now)."""
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
        return state

    def retry(self, job_id: int) -> int:
        """Make a job's failed instances, and those waiting out a backoff, due now (all its
        pending ones, when it was cancelled); returns how many are due again."""
        cancelled = self.job(job_id).cancelled
        with self.db:
            self.db.execute("UPDATE jobs SET cancelled = 0 WHERE id = ?", (job_id,))
            cursor = self.db.execute(
                "UPDATE instances SET state = ?, attempts = 0, next_attempt = 0 "
                "WHERE job_id = ? AND (state = ? OR (state = ? AND attempts > 0))",
                (PENDING, job_id, FAILED, PENDING),
            )
        return self.job(job_id).pending if cancelled else cursor.rowcount

    def reason(self, job_id: int) -> str:
        """Why the job's last unsent instance was not stored ('' when none failed)."""
        row = self.db.execute(
            "SELECT message FROM instances WHERE job_id = ? AND state != ? AND message != '' "
            "ORDER BY attempts DESC, seq LIMIT 1",
            (job_id, SENT),
        ).fetchone()
        return str(row[0]) if row else ""

    def commitment_failures(self, job_id: int) -> list[QueuedInstance]:
        """The job's instances the peer did not commit to keep."""
        return [i for i in self.instances(job_id, SENT) if i.commitment == FAILED]

    def warned(self, job_id: int) -> list[QueuedInstance]:
        """The job's instances the peer stored with a warning (elements coerced or discarded
        ...), which their message says."""
        seqs = {
            row[0]
            for row in self.db.execute(
                "SELECT seq FROM instances WHERE job_id = ? AND state = ? AND status != 0",
                (job_id, SENT),
            )
        }
        return [i for i in self.instances(job_id, SENT) if i.seq in seqs] if seqs else []

    def cancelled(self, job_id: int) -> bool:
        row = self.db.execute("SELECT cancelled FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def cancel(self, job_id: int) -> None:
        """Stop the job: its unsent instances, failed ones too, stay unsent until a retry and
        count as cancelled, not failed. A job whose instances were all sent has nothing to
        cancel (and stays as it is)."""
        job = self.job(job_id)
        if not job.pending and not job.failed:
            raise QueueError(
                f"job {job_id} is {job.state}: all {job.total} instance(s) were sent; "
                "nothing to cancel"
            )
        with self.db:
            self.db.execute("UPDATE jobs SET cancelled = 1 WHERE id = ?", (job_id,))
            self.db.execute(
                "UPDATE instances SET state = ? WHERE job_id = ? AND state = ?",
                (PENDING, job_id, FAILED),
            )

    def rename_node(self, old: str, new: str) -> int:
        """The jobs of the node ``old`` are now those of ``new`` (the node was renamed: its
        waiting jobs are sent there); returns how many."""
        with self.db:
            return self.db.execute("UPDATE jobs SET node = ? WHERE node = ?", (new, old)).rowcount

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
    db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        _write_ahead(db)
        db.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
        db.executescript(SCHEMA)
        _add_columns(db)
        problems = _checked(db, path)
    except sqlite3.DatabaseError as error:
        db.close()
        if error.sqlite_errorcode in DAMAGED_CODES:
            raise _DamagedError(str(error)) from error
        raise
    if problems != ["ok"]:
        db.close()
        raise _DamagedError("; ".join(problems[:3]))
    return db


#: The databases this process found whole (path, device, inode): a window following the queue, or a
#: command opening it again, does not read all of it again (0.17 s for 90,000 instances).
_FOUND_WHOLE: set[tuple[str, int, int]] = set()


def check_ahead(path: Path) -> None:
    """Check the queue at ``path`` now, as this process's first opening of it would, without
    changing anything: found whole, it is not checked again by this process nor by those it
    forks (a warm service checks it once for all its commands, not at each: 0.17 s for
    90,000 instances). A damaged or missing one is left to the opening that says so."""
    identity = _identity(path)
    if identity is None or identity in _FOUND_WHOLE:
        return
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_SECONDS)
        try:
            problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
        finally:
            db.close()  # never open across a fork
    except sqlite3.Error:
        return
    if problems == ["ok"]:
        _FOUND_WHOLE.add(identity)


#: A connection opened ahead of this process's next opening of the queue, by its identity.
_AHEAD: dict[tuple[str, int, int], sqlite3.Connection] = {}


def open_ahead(path: Path) -> None:
    """Open the queue at ``path`` now for this process's next ``TransferQueue`` of it: a warm
    service's spare child does, before it is handed a command (a forked child's first
    opening costs it 3–4 ms of CPU). Only a queue found whole (``check_ahead``) is opened."""
    identity = _identity(path)
    if identity not in _FOUND_WHOLE or identity in _AHEAD:
        return
    try:
        _AHEAD[identity] = _open(path)
    except (sqlite3.Error, _DamagedError) as error:  # left to the command's opening, which says
        logger.debug("the queue %s was not opened ahead: %s", path, error)


def _opened_ahead(path: Path) -> sqlite3.Connection | None:
    """The connection ``open_ahead`` made, when it is still of the file at ``path`` (one
    moved aside and replaced meanwhile is closed, not used)."""
    if not _AHEAD:
        return None
    identity = _identity(path)
    for other in [key for key in _AHEAD if key != identity]:
        _AHEAD.pop(other).close()
    return _AHEAD.pop(identity) if identity in _AHEAD else None


def _identity(path: Path) -> tuple[str, int, int] | None:
    """The file at ``path`` as this module tells databases apart (None: there is none)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return str(path), found.st_dev, found.st_ino


def _checked(db: sqlite3.Connection, path: Path) -> list[str]:
    """``PRAGMA quick_check``'s problems (``["ok"]`` for none), once per database a process
    opens; damage met later is still found by the query it breaks (DAMAGED_CODES)."""
    identity = _identity(path)
    if identity in _FOUND_WHOLE:
        return ["ok"]
    problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
    if problems == ["ok"] and identity is not None:
        _FOUND_WHOLE.add(identity)
    return problems


def _write_ahead(db: sqlite3.Connection) -> None:
    """The WAL journal. Switching to it, SQLite does not wait for a process that opens the
    new database at the same moment: the switch is tried again meanwhile."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _add_columns(db: sqlite3.Connection) -> None:
    """Columns a queue written by an earlier release (or just created) lacks, its jobs kept;
    added under the write lock, so that processes opening it at once add each only once."""
    if not _missing_columns(db):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, name in _missing_columns(db):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {ADDED_COLUMNS[table][name]}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _missing_columns(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """The (table, column) pairs of ADDED_COLUMNS the database does not have."""
    missing = []
    for table, added in ADDED_COLUMNS.items():
        present = {str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")}
        missing += [(table, name) for name in added if name not in present]
    return missing


def _move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL and shared memory) to ``*.corrupt-<time>``."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", *SIDE_FILES):
        damaged = path.with_name(path.name + suffix)
        if damaged.exists():
            damaged.rename(aside.with_name(aside.name + suffix))
    return aside
