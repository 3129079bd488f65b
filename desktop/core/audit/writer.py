"""Audit records stored on a thread of their own, so that a command does not wait for the
disk at each event it records: in order, those waiting stored together (one write, one wait
for the disk), every one of them stored before ``close`` (or ``flush``) returns.

A process forked meanwhile (it has no such thread) stores its own records as it makes them.
"""

import logging
import os
import threading

from desktop.core.audit.message import AuditMessage
from desktop.core.audit.trail import AuditTrail
from desktop.core.forking import safe_beside_fork

log = logging.getLogger(__name__)

#: Held while a writer stores, and by a fork: a child must not inherit the log's lock held
#: by a thread it does not have (it would wait for that lock forever).
_STORING = threading.Lock()
os.register_at_fork(
    before=_STORING.acquire, after_in_parent=_STORING.release, after_in_child=_STORING.release
)


class TrailWriter:
    """Stores what ``put`` is given in ``trail``, on a thread started by the first record."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail
        self._pid = os.getpid()
        self._waiting: list[tuple[AuditMessage, str]] = []
        self._storing = False  # a batch taken from _waiting is being stored
        self._closing = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, message: AuditMessage, node: str = "") -> None:
        """Store ``message`` soon (now, in a process forked from this one)."""
        if os.getpid() != self._pid:
            self.trail.record(message, node=node)
            return
        with self._changed:
            self._waiting.append((message, node))
            if self._thread is None:
                self._closing = False
                self._thread = safe_beside_fork(
                    threading.Thread(target=self._store, name="audit", daemon=True)
                )
                self._thread.start()
            self._changed.notify_all()

    def flush(self) -> None:
        """Return once everything put so far is stored (or said not to be)."""
        if os.getpid() != self._pid:
            return
        with self._changed:
            self._changed.wait_for(lambda: not self._waiting and not self._storing)

    def close(self) -> None:
        """Store everything put, then end the thread."""
        if os.getpid() != self._pid:
            return
        with self._changed:
            thread, self._thread = self._thread, None
            self._closing = True
            self._changed.notify_all()
        if thread is not None:
            thread.join()

    def _store(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting or self._closing)
                batch, self._waiting = self._waiting, []
                if not batch:  # closing, all stored
                    return
                self._storing = True
            try:
                with _STORING:
                    self.trail.record_all(batch)
            except Exception as error:  # auditing never fails the work it reports on
                log.warning("the audit trail could not record %d event(s): %s", len(batch), error)
            finally:
                with self._changed:
                    self._storing = False
                    self._changed.notify_all()
