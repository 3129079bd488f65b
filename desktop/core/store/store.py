"""The local store: the files under one folder (the truth) and their SQLite index.

:class:`Store` implements :class:`desktop.core.archive.Archive` for the query/retrieve and
commitment services, and gives the browser its tree. One connection per store object, used
under a lock: the listener's association threads add while a provider or the browser reads.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import Dataset
from pydicom.uid import MediaStorageDirectoryStorage

from desktop.core.archive import Level, Model, PatientConflictError
from desktop.core.attributes import decimals
from desktop.core.errors import CourierError, HeaderError
from desktop.core.files import private_folder
from desktop.core.header import read_header
from desktop.core.model import InstanceEntry, MediaTree, Problem, build_tree
from desktop.core.store import query
from desktop.core.store.index import CorruptIndexError, Index, IndexedFile, SharedStudy
from desktop.core.store.keys import BROWSER_COLUMNS, COLUMNS, FILE_TAGS

log = logging.getLogger(__name__)

INDEX_FOLDER = ".store"
INDEX_NAME = "index.sqlite"
REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
#: The columns the browser's tree is built from, in ``_entry``'s order.
TREE_COLUMNS = tuple(
    (alias, name)
    for alias, names in (
        ("p", "PatientID PatientName PatientBirthDate PatientSex"),
        ("st", "StudyInstanceUID StudyDate StudyTime StudyDescription AccessionNumber"),
        ("se", "SeriesInstanceUID Modality SeriesNumber SeriesDescription"),
        (
            "i",
            "SOPInstanceUID SOPClassUID InstanceNumber NumberOfFrames Rows Columns "
            "ImagePositionPatient ImageOrientationPatient path size transfer_syntax_uid",
        ),
    )
    for name in names.split()
)


#: Told of a study UID that a queued file filed under its patient while others held it.
Shared = Callable[[SharedStudy], None]


class StoreError(CourierError):
    """A file cannot be indexed in the store; the message says which and why."""


@dataclass(slots=True)
class ReindexReport:
    """What a rebuild of the index found."""

    files: int = 0
    read: int = 0  # files read: new, changed, or all of them for a full rebuild
    dropped: int = 0  # entries of files no longer there
    instances: int = 0
    series: int = 0
    studies: int = 0
    patients: int = 0
    failed: list[Problem] = field(default_factory=list)


class Store:
    """The indexed local store of one folder (the Inbox: HOME/inbox by default)."""

    def __init__(self, folder: Path) -> None:
        """Open the store of ``folder`` (made 0700 if missing). A new index (or one whose
        first indexing never finished) is built from the files on the store's own thread;
        reads wait for it, adds do not. A damaged index is moved aside and rebuilt
        (``recovered`` then says so)."""
        self.folder = private_folder(Path(folder).absolute())
        self.index_path = private_folder(self.folder / INDEX_FOLDER) / INDEX_NAME
        self.recovered = ""
        self.first_indexing: ReindexReport | None = None  # when this opening built the index
        self._lock = threading.Lock()  # the connection
        self._adding = threading.Lock()  # one batch of queued files at a time
        self._queued: list[tuple[Path, Shared | None]] = []
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closing = False
        try:
            self._index = Index(self.index_path)
        except CorruptIndexError as error:
            aside = self._move_aside()
            self.recovered = f"{error}; it was moved to {aside.name} and rebuilt from the files"
            log.warning("%s", self.recovered)
            self._index = Index(self.index_path)
        if not self._index.complete:
            self._adding.acquire()  # every read waits until the first indexing is done
            threading.Thread(target=self._first_indexing, name="store-first-index").start()

    def _first_indexing(self) -> None:
        try:
            report = self.first_indexing = self._resync(full=True)
            log.info("indexed %d files of %s", report.read, self.folder)
        except Exception:  # the index stays incomplete: the next opening tries again
            log.exception("the first indexing of %s failed", self.folder)
        finally:
            self._adding.release()

    def close(self) -> None:
        """Index what is still queued, then close the index."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._worker is not None:
            self._worker.join()
        self._drain()
        with self._lock:
            self._index.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _move_aside(self) -> Path:
        aside = self.index_path.with_name(f"{INDEX_NAME}.corrupt-{time.strftime('%Y%m%d%H%M%S')}")
        self.index_path.replace(aside)
        for suffix in ("-wal", "-shm"):
            Path(f"{self.index_path}{suffix}").unlink(missing_ok=True)
        return aside

    # The Archive protocol

    def find(self, *, model: Model, level: Level, identifier: Dataset) -> Iterator[Dataset]:
        """C-FIND matching (PS3.4 C.2.2.2): one response per match; InvalidQueryError now,
        before the first response, for an identifier that cannot be answered."""
        checked = query.parse(model, level, identifier)
        with self._reading() as index:
            rows = index.rows(checked.sql(), checked.parameters)
        return checked.responses(rows)

    def locate(self, *, model: Model, level: Level, identifier: Dataset) -> list[Path]:
        """The files of the instances a retrieve of ``identifier`` sends, one per instance;
        PatientConflictError when a UID it names is held for several patients and the
        identifier's PatientID (and IssuerOfPatientID) do not choose one."""
        sql, parameters = query.retrieval(model, level, identifier)
        with self._reading() as index:
            rows = index.rows(sql, parameters)
        held: dict[str, dict[int, str]] = {}  # the level's UID → its patients, by row id
        for _, patient, patient_id, issuer, _, uid in rows:
            held.setdefault(uid, {})[patient] = (
                f"{patient_id} (issuer {issuer})" if issuer else patient_id
            )
        for uid, patients in held.items():
            if len(patients) > 1:
                study = next(row[4] for row in rows if row[5] == uid)
                raise PatientConflictError(
                    level=level, uid=uid, study_uid=study, patients=sorted(patients.values())
                )
        return [self.folder / row[0] for row in rows]

    def holds(self, *, sop_class_uid: str, sop_instance_uid: str) -> Path | None:
        """The file of this instance if it is indexed and still on disk, else None."""
        with self._reading() as index:
            rows = index.rows(
                'SELECT path FROM instances WHERE "SOPInstanceUID" = ? AND "SOPClassUID" = ? '
                "ORDER BY kept_beside",
                (sop_instance_uid, sop_class_uid),
            )
        for (relative,) in rows:
            path = self.folder / str(relative)
            if path.is_file():
                return path
        return None

    def add(self, path: Path) -> None:
        """Index a file under the store's folder; StoreError when it cannot be."""
        record = self._read(Path(path))
        with self._lock, self._index.transaction():
            self._index.put(record)

    def add_soon(self, path: Path, *, shared: Shared | None = None) -> None:
        """Queue a file for indexing on the store's own thread, many per transaction, and
        return at once (a listener's association thread goes on answering). Every read of
        this store object (find, locate, holds, tree) indexes what is queued first; a file
        that cannot be indexed is logged. ``shared`` is told, once the file is indexed, when
        it put its study UID under a second patient."""
        with self._wake:
            if self._closing:
                raise StoreError(f"the store of {self.folder} is closed")
            self._queued.append((Path(path), shared))
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._index_queued, name="store-indexer", daemon=True
                )
                self._worker.start()
            self._wake.notify()

    def _index_queued(self) -> None:
        while True:
            with self._wake:
                while not self._queued and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
            self._drain()

    def _drain(self) -> None:
        """Index the queued files (waiting for a batch another thread is indexing)."""
        with self._adding:
            with self._wake:
                paths, self._queued = self._queued, []
            if not paths:
                return
            records = []
            for path, tell in paths:
                try:
                    records.append((self._read(path), tell))
                except StoreError as error:
                    log.warning("not indexed: %s", error)
            told = []
            with self._lock, self._index.transaction():
                for record, tell in records:
                    found = self._index.put(record)
                    if found is not None and tell is not None:
                        told.append((tell, found))
            for tell, found in told:  # once committed: a reader told sees it
                try:
                    tell(found)
                except Exception:  # the teller's failure never stops the indexing
                    log.exception("telling of study %s of two patients failed", found.study_uid)

    @contextmanager
    def _reading(self) -> Iterator[Index]:
        """The index for a read that sees every file queued before it."""
        self._drain()
        with self._lock:
            yield self._index

    # Beyond the protocol: rebuilding, the browser's tree

    def reindex(self, *, full: bool = False) -> ReindexReport:
        """Bring the index in line with the files (after a crash, a hand edit, a deleted
        index): files not indexed or changed since (size, time) are read, the entries of files
        gone are dropped; ``full`` reads every file again. A listener filing meanwhile loses
        nothing, and readers see the old index until the new one is complete."""
        self._drain()
        with self._adding:
            return self._resync(full=full)

    def _resync(self, *, full: bool) -> ReindexReport:
        """The work of ``reindex``, by a thread holding ``_adding``."""
        report = ReindexReport()
        on_disk: dict[str, tuple[int, int]] = {}
        for path in self._files():
            try:
                status = path.stat()
            except OSError as error:  # gone since it was listed, or unreadable
                report.failed.append(Problem(path, f"{path}: {error.strerror or error}"))
                continue
            on_disk[path.relative_to(self.folder).as_posix()] = (
                status.st_size,
                status.st_mtime_ns,
            )
        with self._lock:
            indexed = {
                str(path): (int(size), int(modified))
                for path, size, modified in self._index.rows(
                    "SELECT path, size, modified_ns FROM instances"
                )
            }
        report.files = len(on_disk)
        records = []
        for relative, signature in on_disk.items():
            if full or indexed.get(relative) != signature:
                report.read += 1
                try:
                    records.append(self._read(self.folder / relative))
                except StoreError as error:
                    report.failed.append(Problem(self.folder / relative, str(error)))
        gone = [relative for relative in indexed if relative not in on_disk]
        with self._lock, self._index.transaction():
            for relative in gone:
                if not (self.folder / relative).exists():  # not filed again since the listing
                    report.dropped += 1
                    self._index.drop(relative)
            for record in records:
                self._index.put(record)
            self._index.prune()
            self._index.mark_complete()
            counts = self._counts(self._index)
        report.patients, report.studies, report.series, report.instances = counts
        return report

    def counts(self) -> tuple[int, int, int, int]:
        """How many patients, studies, series and instances (distinct UIDs) are indexed."""
        with self._reading() as index:
            return self._counts(index)

    @staticmethod
    def _counts(index: Index) -> tuple[int, int, int, int]:
        row = index.rows(
            "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM studies), "
            "(SELECT count(*) FROM series), "
            '(SELECT count(DISTINCT "SOPInstanceUID") FROM instances)'
        )[0]
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def tree(self) -> MediaTree:
        """What the store holds as a browser's tree (from the index, no file is read)."""
        columns = ", ".join(f'{alias}."{name}"' for alias, name in TREE_COLUMNS)
        with self._reading() as index:
            rows = index.rows(
                f"SELECT {columns} FROM {query.FROM['IMAGE']} WHERE i.kept_beside = 0"
            )
        entries = [_entry(row, self.folder) for row in rows]
        return build_tree("store", self.folder, entries, [])

    def _files(self) -> Iterator[Path]:
        """Every file under the folder but the hidden ones (the index, files being received)."""
        for root, folders, files in os.walk(self.folder):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield Path(root) / name

    def _read(self, path: Path) -> IndexedFile:
        try:
            relative = path.absolute().relative_to(self.folder)
        except ValueError:
            raise StoreError(f"{path} is not under the store's folder {self.folder}") from None
        try:
            header = read_header(path, FILE_TAGS)
        except HeaderError as error:
            raise StoreError(f"{path}: {error}") from None
        if header.media_sop_class_uid == MediaStorageDirectoryStorage:
            raise StoreError(f"{path} is a DICOMDIR, not an instance")
        values = {
            key.keyword: header.values.text(key.tag)
            for level_keys in COLUMNS.values()
            for key in level_keys
            if key.tag in header.values
        }
        values.update(
            (keyword, header.values.text(tag))
            for keyword, tag in BROWSER_COLUMNS.items()
            if tag in header.values
        )
        values["SOPInstanceUID"] = values.get("SOPInstanceUID") or header.media_sop_instance_uid
        values["SOPClassUID"] = values.get("SOPClassUID") or header.media_sop_class_uid
        missing = [k for k in REQUIRED_UIDS if not values.get(k)]
        if missing:
            raise StoreError(f"{path} has no {' nor '.join(missing)}: it cannot be indexed")
        return IndexedFile(
            relative.as_posix(),
            header.file_size,
            path.stat().st_mtime_ns,
            header.transfer_syntax_uid,
            values,
        )


def _number(text: str) -> int | None:
    try:
        return int(text.split("\\")[0]) if text else None
    except ValueError:
        return None


def _entry(row: tuple[str, ...], folder: Path) -> InstanceEntry:
    (patient_id, name, birth, sex, study, date, time_, description, accession, series,
     modality, series_number, series_description, uid, sop_class, number, frames, rows,
     columns, position, orientation, path, size, syntax) = row  # fmt: skip
    return InstanceEntry(
        sop_instance_uid=uid,
        sop_class_uid=sop_class,
        transfer_syntax_uid=syntax,
        instance_number=_number(number),
        frames=_number(frames) or (1 if rows else 0),
        rows=_number(rows),
        columns=_number(columns),
        path=folder / path,
        size=int(size),
        patient_id=patient_id,
        patient_name=name,
        patient_birth_date=birth,
        patient_sex=sex,
        study_instance_uid=study,
        study_date=date,
        study_time=time_,
        study_description=description,
        accession_number=accession,
        series_instance_uid=series,
        modality=modality,
        series_number=_number(series_number),
        series_description=series_description,
        image_position=decimals(position, 3) if position else None,
        image_orientation=decimals(orientation, 6) if orientation else None,
    )
