"""The store's SQLite index: one table per level, one column per stored key.

Rows are derived from the files under the store's folder (the files stay the truth): a file is
read once when it is added, and the whole index can be rebuilt from them. WAL journal, so the
listener writes while a browser or a query provider reads. A file that SQLite cannot read as an
index is reported as :class:`CorruptIndexError` for the store to move aside.
"""

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.errors import CourierError
from desktop.core.files import private_file
from desktop.core.store.keys import BROWSER_COLUMNS, COLUMNS, UNIQUE, Stored

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: a study or series is unique under its patient or study only
TABLES: dict[Stored, str] = {
    "PATIENT": "patients",
    "STUDY": "studies",
    "SERIES": "series",
    "IMAGE": "instances",
}
PARENT: dict[Stored, str] = {"STUDY": "patient", "SERIES": "study", "IMAGE": "series"}


class CorruptIndexError(CourierError):
    """The index file cannot be used (damaged, not SQLite, another program's)."""


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """What the index keeps of one file: where it is and its keys' values by keyword."""

    path: str  # relative to the store's folder, '/'-separated
    size: int
    modified_ns: int
    transfer_syntax_uid: str
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class SharedStudy:
    """A study UID the index already held for other patients when a file filed it under
    ``patient_id`` (kept apart: one study per patient)."""

    study_uid: str
    patient_id: str
    others: tuple[str, ...]


def quoted(keyword: str) -> str:
    return f'"{keyword}"'


def _columns(level: Stored) -> tuple[str, ...]:
    extras = tuple(BROWSER_COLUMNS) if level == "IMAGE" else ()
    return tuple(k.keyword for k in COLUMNS[level]) + extras


#: The keywords each level's table has a column for.
STORED: dict[Stored, tuple[str, ...]] = {level: _columns(level) for level in TABLES}


def _stored(level: Stored) -> tuple[str, ...]:
    return STORED[level]


def _schema() -> list[str]:
    statements = []
    for level, table in TABLES.items():
        columns = [quoted(k) + " TEXT NOT NULL DEFAULT ''" for k in _stored(level)]
        extra = ["id INTEGER PRIMARY KEY"]
        if level in PARENT:
            extra.append(f"{PARENT[level]} INTEGER NOT NULL")
        if level == "IMAGE":
            extra += [
                "path TEXT NOT NULL UNIQUE",
                "size INTEGER NOT NULL",
                "modified_ns INTEGER NOT NULL",
                "transfer_syntax_uid TEXT NOT NULL",
                "kept_beside INTEGER NOT NULL",  # another file holds the same SOP Instance UID
            ]
        unique = {
            "PATIENT": 'UNIQUE("PatientID", "IssuerOfPatientID")',
            "STUDY": 'UNIQUE(patient, "StudyInstanceUID")',
            "SERIES": 'UNIQUE(study, "SeriesInstanceUID")',
            "IMAGE": None,
        }[level]
        body = ", ".join(extra + columns + ([unique] if unique else []))
        statements.append(f"CREATE TABLE {table} ({body})")
        if level in PARENT:
            statements.append(f"CREATE INDEX {table}_parent ON {table}({PARENT[level]})")
    statements.append('CREATE INDEX instances_uid ON instances("SOPInstanceUID")')
    statements.append('CREATE INDEX studies_uid ON studies("StudyInstanceUID")')
    return statements


def _upsert(level: Stored) -> str:
    """Insert or update a level's row, returning its id (a non-empty value replaces the
    stored one; an empty one keeps it)."""
    names = [quoted(k) for k in _stored(level)]
    owner = [PARENT[level]] if level in PARENT else []
    conflict = (
        '"PatientID", "IssuerOfPatientID"'
        if level == "PATIENT"
        else f"{PARENT[level]}, {quoted(UNIQUE[level])}"  # one UID under two patients: two rows
    )
    updates = ", ".join(f"{n} = coalesce(nullif(excluded.{n}, ''), {n})" for n in names)
    return (
        f"INSERT INTO {TABLES[level]} ({', '.join(owner + names)}) "
        f"VALUES ({', '.join('?' for _ in owner + names)}) "
        f"ON CONFLICT({conflict}) DO UPDATE SET {updates} RETURNING id"
    )


UPSERT: dict[Stored, str] = {level: _upsert(level) for level in ("PATIENT", "STUDY", "SERIES")}
INSERT_INSTANCE = (
    "INSERT INTO instances (series, path, size, modified_ns, transfer_syntax_uid, kept_beside, "
    + ", ".join(quoted(k) for k in _stored("IMAGE"))
    + ") VALUES (?, ?, ?, ?, ?, ?, "
    + ", ".join("?" for _ in _stored("IMAGE"))
    + ")"
)


class Index:
    """One connection to the index file (the caller serialises its use across threads)."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the index; raise CorruptIndexError when it cannot be used."""
        private_file(path)
        self.path = path
        self.complete = False  # the first indexing of the files has been committed
        # Rows upserted in this transaction, by their statement's parameters.
        self._upserted: dict[tuple[Stored, tuple[object, ...]], int] = {}
        self.connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        try:
            self._prepare()
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise CorruptIndexError(f"the store's index {path} cannot be read: {error}") from None

    def _prepare(self) -> None:
        execute = self.connection.execute
        execute("PRAGMA busy_timeout = 30000")
        check = execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {check}")
        version = execute("PRAGMA user_version").fetchone()[0]
        tables = execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if version == 0 and tables == 0:
            execute("PRAGMA journal_mode = WAL")
            with self.transaction():
                for statement in _schema():
                    execute(statement)
        elif 0 < version < SCHEMA_VERSION:  # the files are the truth: indexed again
            log.info("the store's index %s has schema version %d: rebuilt", self.path, version)
            with self.transaction():
                for (table,) in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'"):
                    execute(f'DROP TABLE "{table}"')
                for statement in _schema():
                    execute(statement)
                execute("PRAGMA user_version = 0")
            version = 0
        elif version not in (0, SCHEMA_VERSION):  # 0: made, its first indexing unfinished
            raise sqlite3.DatabaseError(
                f"schema version {version}, this program reads version {SCHEMA_VERSION}"
            )
        self.complete = version == SCHEMA_VERSION
        execute("PRAGMA synchronous = NORMAL")

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE): committed at the end, rolled back when
        the block raises."""
        self._upserted.clear()  # another connection may have changed the rows since
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row ``sql`` selects."""
        return self.connection.execute(sql, parameters).fetchall()

    def put(self, record: IndexedFile) -> SharedStudy | None:
        """Index one file (replacing what was indexed for its path), in the open transaction;
        the study it files under its patient anew while other patients hold its UID, if so."""
        execute = self.connection.execute
        uid = record.values.get(UNIQUE["IMAGE"], "")
        old = execute(
            'SELECT id, series, "SOPInstanceUID" FROM instances WHERE path = ?', (record.path,)
        ).fetchone()
        if old is not None:
            execute("DELETE FROM instances WHERE id = ?", (old[0],))
        values = record.values
        parent: int | None = None
        shared = None
        for level, upsert in UPSERT.items():
            parameters = (
                *(() if parent is None else (parent,)),
                *(values.get(k, "") for k in _stored(level)),
            )
            known = self._upserted.get((level, parameters))
            if known is None:  # files of one series come together: skip repeated upserts
                if level == "STUDY":
                    shared = self._shared(values, patient=parent)
                known = int(execute(upsert, parameters).fetchone()[0])
                self._upserted[(level, parameters)] = known
            parent = known
        kept_beside = execute(
            'SELECT count(*) FROM instances WHERE "SOPInstanceUID" = ? AND kept_beside = 0',
            (uid,),
        ).fetchone()[0]
        execute(
            INSERT_INSTANCE,
            (
                parent,
                record.path,
                record.size,
                record.modified_ns,
                record.transfer_syntax_uid,
                int(kept_beside > 0),
                *(values.get(k, "") for k in _stored("IMAGE")),
            ),
        )
        if old is not None and (old[1], old[2]) != (parent, uid):  # the file changed hands
            self.prune()
        return shared

    def _shared(self, values: dict[str, str], *, patient: int | None) -> SharedStudy | None:
        """The study of ``values`` when other patients than ``patient`` (a row id) hold its
        UID and ``patient`` does not yet: logged, as it is kept apart."""
        study = values.get(UNIQUE["STUDY"], "")
        holders = self.rows(
            'SELECT s.patient, p."PatientID" FROM studies s JOIN patients p ON p.id = s.patient '
            'WHERE s."StudyInstanceUID" = ?',
            (study,),
        )
        if not holders or any(row[0] == patient for row in holders):
            return None
        mine = values.get("PatientID", "")
        shared = SharedStudy(study, mine, tuple(sorted({str(row[1]) for row in holders})))
        patients = sorted({mine, *shared.others})
        log.warning(
            "study %s holds instances of %d patients: %s; they are kept apart, check the "
            "study before using it",
            study,
            len(patients),
            ", ".join(patients),
        )
        return shared

    def mark_complete(self) -> None:
        """Record, in the open transaction, that every file has been indexed once."""
        self.connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.complete = True

    def drop(self, path: str) -> None:
        """Forget the file at ``path`` (call ``prune`` after)."""
        self.connection.execute("DELETE FROM instances WHERE path = ?", (path,))

    def prune(self) -> None:
        """Drop series, studies and patients left without instances; where the file answered
        for an instance is gone, one kept beside it answers instead."""
        self._upserted.clear()
        execute = self.connection.execute
        execute(
            "UPDATE instances SET kept_beside = 0 WHERE id IN (SELECT min(id) FROM instances "
            'GROUP BY "SOPInstanceUID" HAVING min(kept_beside) = 1)'
        )
        execute("DELETE FROM series WHERE id NOT IN (SELECT series FROM instances)")
        execute("DELETE FROM studies WHERE id NOT IN (SELECT study FROM series)")
        execute("DELETE FROM patients WHERE id NOT IN (SELECT patient FROM studies)")
