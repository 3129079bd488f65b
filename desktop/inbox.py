"""Composition: the Inbox as the indexed local store, shared by the commands and the GUI.

What ``listen`` receives, what ``move`` or ``get`` retrieve and what ``import`` copies land in
one folder (HOME/inbox unless told otherwise); :func:`indexing` wraps a listener's sink so that
each filed instance is indexed as it arrives. The store (and pydicom) load only when first
needed, so that a command or the GUI starts without them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.errors import CourierError
from desktop.core.paths import courier_home

if TYPE_CHECKING:
    from desktop.core.store import Store
    from desktop.core.store.index import SharedStudy
    from desktop.net.receiver import Sink

log = logging.getLogger(__name__)


def inbox_folder(folder: Path | None = None) -> Path:
    """The store's folder: ``folder`` when given, else HOME/inbox."""
    return folder if folder is not None else courier_home() / "inbox"


def existing_store(folder: Path | None = None) -> Store:
    """``open_store`` for a reader: a folder that does not exist is refused, not made (a
    mistyped path must not read as an empty store); only import and listen make a store."""
    from desktop.core.errors import CourierError

    where = inbox_folder(folder)
    if not where.is_dir():
        raise CourierError(
            f"no store at {where}: 'import' or 'listen' makes one"
            + (" (check the --store path)" if folder is not None else "")
        )
    return open_store(where)


def open_store(folder: Path | None = None) -> Store:
    """The store of ``folder`` (HOME/inbox by default); a damaged index is rebuilt and said so
    in the log. The first time, what an earlier version left readable by others under the
    home (and in the store, wherever it is) is made private."""
    from desktop.core.private_modes import make_private_once
    from desktop.core.store import Store

    where = inbox_folder(folder)
    home = courier_home()
    make_private_once(home)
    if not where.absolute().is_relative_to(home.absolute()):
        make_private_once(where)
    return Store(where)


class LazyStore:
    """A store opened on first use, once, whatever thread asks first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._store: Store | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.folder)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def indexing(sink: Sink, store: Callable[[], Store]) -> Sink:
    """``sink`` that first queues each instance the listener filed ("stored" records) for the
    store's indexer: the association thread answers at once, and any read of the store sees
    the instance. One the index refuses stays filed (the files are the truth) and is logged.
    An instance that files its study UID under a second patient is told to ``sink`` once
    indexed, as a "study-of-two-patients" record naming both patients."""

    def indexed(record: dict[str, Any]) -> None:
        if record.get("event") == "stored":
            try:
                store().add_soon(Path(record["path"]), shared=partial(_shared, sink, record))
            except CourierError as error:
                log.warning("the Inbox could not index %s: %s", record["path"], error)
        sink(record)

    return indexed


def _shared(sink: Sink, stored: dict[str, Any], study: SharedStudy) -> None:
    others = ("patients " if len(study.others) > 1 else "patient ") + ", ".join(study.others)
    sink(
        {
            **{k: stored[k] for k in ("calling", "peer", "path") if k in stored},
            "event": "study-of-two-patients",
            "study": study.study_uid,
            "patient": study.patient_id,
            "others": list(study.others),
            "warning": (
                f"study {study.study_uid} received for patient {study.patient_id} is already "
                f"held for {others}: kept apart as two studies, check which patient "
                "it belongs to before using it"
            ),
        }
    )
