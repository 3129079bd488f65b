"""Transfers for the GUI: one serial queue per node (as Vorta does per site), on a pool of their
own so that Open, Echo and Find never wait behind sends.

Jobs retry transient failures with the CLI's backoff (``send_policy``), saying when they wait
and why; a job whose node is gone is reported, never raised.
"""

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from desktop import auditing
from desktop.app import Services
from desktop.core.config import ConfigError, Node
from desktop.core.deid.setting import Deidentification
from desktop.core.errors import CourierError
from desktop.net.cancel import Cancel
from desktop.net.commitment import begin, request
from desktop.net.copies import discard_copies, new_area, sweep
from desktop.net.queue import FAILED, JobSummary, QueuedInstance, TransferQueue
from desktop.net.runner import JobProgress, JobWaiting, run_job, send_policy
from desktop.net.store import SessionEvent, StoreItem, StoreOutcome
from desktop.ui.store_warnings import StoreWarnings, store_warnings
from desktop.ui.widgets.deidentify import PIXELS
from desktop.ui.widgets.send_pixels import CHOICES
from desktop.ui.workers import GeneratorWorker, start

MAX_SENDING_NODES = 4
HASHING_THREADS = 1  # more starve the GUI thread of the GIL over many small files (bench)


@dataclass(frozen=True, slots=True)
class JobUpdate:
    node: str
    progress: JobProgress
    failures: list[str] | None = None  # set when the job has stopped
    reason: str = ""  # why instances were not stored yet, in plain words
    retry_at: float | None = None  # waiting out a backoff until then (epoch seconds)
    node_gone: bool = False
    warnings: StoreWarnings | None = None  #: what the peer said of what it stored, once stopped


@dataclass(frozen=True, slots=True)
class _Job:
    items: list[StoreItem]
    description: str
    job_id: int | None
    deid: Deidentification | None = None  #: send de-identified copies made this way


class HeldBackError(CourierError):
    """Nothing queued: every image of a de-identifying send may show burned-in text that
    was not searched, so each was held back."""

    def __init__(self, held: int, total: int) -> None:
        super().__init__(
            f"nothing to send: {held} of {total} images held back: their pixels may show "
            "burned-in text (a name, ID or date written into the image) and were not "
            f"searched. De-identify them with the pixel search on (De-identify…, "
            f"“{PIXELS['auto']}”) and send the copies, or send them again with Burned-in "
            f"text: “{CHOICES['auto']}” (in the send confirmation or the node's settings)"
        )


class TransferController(QObject):
    job_updated = Signal(object)  # JobUpdate
    session = Signal(str, object)  # node name, SessionEvent
    note = Signal(str, str)  # node name, text
    failed = Signal(str, object)  # node name, the exception

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(MAX_SENDING_NODES)
        self.active: dict[str, GeneratorWorker] = {}
        self.running: dict[str, int | None] = {}  # node → the job its worker runs
        self.waiting: dict[str, deque[_Job]] = {}

    def submit(
        self,
        node_name: str,
        items: list[StoreItem],
        description: str,
        *,
        deid: Deidentification | None = None,
    ) -> None:
        """Queue a new job for ``node_name`` (persisted before anything is sent); with
        ``deid``, of de-identified copies made on the job's worker."""
        node = self.services.prepare(node_name)  # a password dialog may appear: GUI thread
        if deid is not None and deid.recipient is not None:
            from desktop.sealing import recipient_certificate

            recipient_certificate(deid.recipient, self.services.keystore)  # as the CLI does
        self._schedule(node, _Job(items, description, None, deid))

    def resume_pending(self) -> list[int]:
        """Run the jobs a previous session left pending; returns their ids. A job whose node
        was renamed or removed is reported as such and left in the queue."""
        queue = TransferQueue(self.services.queue_path)
        try:
            sweep(queue, self.services.home)  # copies a crash left behind
            jobs = [queue.job(job_id) for job_id in queue.runnable()]
        finally:
            queue.close()
        for job in jobs:
            self.resume(job)
        return [job.id for job in jobs]

    def resume(self, job: JobSummary) -> None:
        """Run ``job`` again now (after Retry): a worker waiting on it starts over."""
        try:
            node = self.services.prepare(job.node)
        except CourierError as error:  # the node is gone, or no keystore password was given
            gone = isinstance(error, ConfigError)
            self.job_updated.emit(
                JobUpdate(job.node, JobProgress(job), reason=str(error), node_gone=gone)
            )
            return
        if self.running.get(node.name) == job.id:
            self.active[node.name].cancel()  # it may be sleeping out a backoff
        self._schedule(node, _Job([], job.description, job.id))

    def cancel(self, job: JobSummary) -> bool:
        """Stop ``job``'s worker now, even while it sleeps out a backoff or waits on its
        commitment request (the queue already says the job is cancelled, unless all was
        sent); whether one was running."""
        if self.running.get(job.node) != job.id:
            return False
        self.active[job.node].cancel()
        return True

    def busy(self) -> bool:
        return bool(self.active)

    def stop_all(self) -> None:
        """Stop between two instances: what was acknowledged is kept, the rest stays queued."""
        for queued in self.waiting.values():
            queued.clear()
        for worker in self.active.values():
            worker.cancel()

    def _schedule(self, node: Node, job: _Job) -> None:
        self.waiting.setdefault(node.name, deque()).append(job)
        if node.name not in self.active:
            self._next(node)

    def _next(self, node: Node) -> None:
        queued = self.waiting.get(node.name)
        if not queued:
            self.active.pop(node.name, None)
            self.running.pop(node.name, None)
            return
        job = queued.popleft()
        worker = GeneratorWorker(lambda: self._run(node, job, worker))
        worker.signals.yielded.connect(lambda record: self._relay(node.name, record))
        worker.signals.errored.connect(lambda error: self.failed.emit(node.name, error))
        worker.signals.returned.connect(lambda _: self._next(node))
        worker.signals.errored.connect(lambda _: self._next(node))
        worker.signals.aborted.connect(lambda: self._next(node))
        self.running[node.name] = job.job_id
        self.active[node.name] = start(worker, self.pool)

    def _run(self, node: Node, job: _Job, worker: GeneratorWorker) -> Generator[Any, None, None]:
        _, connector, peer = self.services.connection(node.name)  # once per node and session
        queue = TransferQueue(self.services.queue_path)
        try:
            job_id, enqueued = job.job_id, list[QueuedInstance]()
            if job_id is None:
                job_id, enqueued = yield from self._enqueue(queue, node, job)
                self.running[node.name] = job_id
            summary = queue.job(job_id)
            yield JobUpdate(node.name, JobProgress(summary))
            cancel = Cancel()
            worker.on_cancel(cancel.cancel)  # a silent peer must not hold a cancel or a quit
            records = run_job(
                queue,
                job_id,
                connector,
                peer,
                policy=send_policy(),
                history=self.services.history,
                parallel=node.max_associations,
                compress=summary.compression or node.compress,  # a CLI send's own choice
                sleep=worker.wait,
                cancel=cancel,
                enqueued=enqueued,
            )
            yield from auditing.transfer(records, queue, job_id, node)
            discard_copies(queue, job_id, self.services.home)  # commitment needs only the UIDs
            transaction = None
            if node.commit and not worker.cancelled:
                transaction = begin(queue, job_id, called=node.ae_title)
            if transaction is not None:  # the row says "waiting for commitment" meanwhile
                yield JobUpdate(node.name, JobProgress(queue.job(job_id)))
                request(
                    queue,
                    transaction,
                    connector,
                    called=node.ae_title,
                    calling=node.calling_ae_title,
                    wait=node.commit_wait,
                    stop=lambda: worker.cancelled,
                    cancel=cancel,
                )
            failures, reason = failures_and_reason(queue, job_id)
            warnings = store_warnings(queue, job_id, node.name)
            yield JobUpdate(
                node.name, JobProgress(queue.job(job_id)), failures, reason, warnings=warnings
            )
        finally:
            queue.close()

    def _enqueue(
        self, queue: TransferQueue, node: Node, job: _Job
    ) -> Generator[Any, None, tuple[int, list[QueuedInstance]]]:
        """Queue the job's items, or de-identified copies of them (saying which could not
        be made); the job's id and instances."""
        if job.deid is None:
            return queue.enqueued(
                node.name, job.items, job.description, hashing_threads=HASHING_THREADS
            )
        from desktop.deid_send import AREA, deidentified_items

        with new_area(self.services.home, AREA) as area:
            items, refused, held = deidentified_items(job.items, job.deid, area)
            yield from refused
            if held and not items:
                raise HeldBackError(held, len(job.items))
            return queue.enqueued(
                node.name,
                items,
                job.description,
                hashing_threads=HASHING_THREADS,
                deidentified=job.deid.describe(),
            )

    def _relay(self, node: str, record: Any) -> None:
        if isinstance(record, JobUpdate):
            self.job_updated.emit(record)
        elif isinstance(record, JobProgress):
            self.job_updated.emit(JobUpdate(node, record))
        elif isinstance(record, JobWaiting):
            self.job_updated.emit(
                JobUpdate(
                    node, JobProgress(record.job), reason=record.reason, retry_at=record.until
                )
            )
        elif isinstance(record, SessionEvent):
            self.session.emit(node, record)
        elif isinstance(record, StoreOutcome) and record.note:
            self.note.emit(node, f"{record.item.path.name}: {record.note}")
        elif isinstance(record, str):
            self.note.emit(node, record)


def failures_and_reason(queue: TransferQueue, job_id: int) -> tuple[list[str], str]:
    """Each instance of the job not sent or not committed, with why, and the reason its row
    shows: read from the queue, so a job of an earlier session or of the command line says it
    as a job that just ran does."""
    failures = [f"{i.item.path}: {i.message}" for i in queue.instances(job_id, FAILED)]
    refused = queue.commitment_failures(job_id)
    failures += [f"{i.item.path}: {i.commitment_reason}" for i in refused]
    reason = queue.reason(job_id) or (refused[0].commitment_reason if refused else "")
    return failures, reason
