"""Transfers for the GUI: one serial queue per node (as Vorta does per site), work on the pool.

Keys are unlocked and connectors built on the GUI thread (a password dialog may appear);
hashing, sending and every database write happen on a pool thread.
"""

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.app import Services
from desktop.core.config import Node
from desktop.net.link import Connector
from desktop.net.queue import FAILED, TransferQueue
from desktop.net.runner import JobProgress, run_job
from desktop.net.store import Peer, SessionEvent, StoreItem, StoreOutcome
from desktop.ui.workers import GeneratorWorker, start


@dataclass(frozen=True, slots=True)
class JobUpdate:
    node: str
    progress: JobProgress
    failures: list[str] | None = None  # set when the job has stopped


class TransferController(QObject):
    job_updated = Signal(object)  # JobUpdate
    session = Signal(str, object)  # node name, SessionEvent
    note = Signal(str, str)  # node name, text
    failed = Signal(str, object)  # node name, the exception

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.active: dict[str, GeneratorWorker] = {}
        self.waiting: dict[str, deque[tuple[Any, ...]]] = {}

    def submit(self, node_name: str, items: list[StoreItem], description: str) -> None:
        """Queue a new job for ``node_name`` (persisted before anything is sent)."""
        node, connector, peer = self.services.connection(node_name)
        self._schedule(node, (connector, peer, items, description, None))

    def resume_pending(self) -> list[int]:
        """Run the jobs a previous session left pending; returns their ids."""
        queue = TransferQueue(self.services.queue_path)
        try:
            jobs = [queue.job(job_id) for job_id in queue.runnable()]
        finally:
            queue.close()
        for job in jobs:
            node, connector, peer = self.services.connection(job.node)
            self._schedule(node, (connector, peer, [], job.description, job.id))
        return [job.id for job in jobs]

    def busy(self) -> bool:
        return bool(self.active)

    def stop_all(self) -> None:
        """Stop between two instances: what was acknowledged is kept, the rest stays queued."""
        for queued in self.waiting.values():
            queued.clear()
        for worker in self.active.values():
            worker.cancel()

    def _schedule(self, node: Node, job: tuple[Any, ...]) -> None:
        self.waiting.setdefault(node.name, deque()).append(job)
        if node.name not in self.active:
            self._next(node)

    def _next(self, node: Node) -> None:
        queued = self.waiting.get(node.name)
        if not queued:
            self.active.pop(node.name, None)
            return
        connector, peer, items, description, job_id = queued.popleft()
        worker = GeneratorWorker(
            lambda: self._run(node, connector, peer, items, description, job_id)
        )
        worker.signals.yielded.connect(lambda record: self._relay(node.name, record))
        worker.signals.errored.connect(lambda error: self.failed.emit(node.name, error))
        worker.signals.returned.connect(lambda _: self._next(node))
        worker.signals.errored.connect(lambda _: self._next(node))
        worker.signals.aborted.connect(lambda: self._next(node))
        self.active[node.name] = start(worker)

    def _run(
        self,
        node: Node,
        connector: Connector,
        peer: Peer,
        items: list[StoreItem],
        description: str,
        job_id: int | None,
    ) -> Generator[Any, None, None]:
        queue = TransferQueue(self.services.queue_path)
        try:
            if job_id is None:
                job_id = queue.enqueue(node.name, items, description)
            yield JobUpdate(node.name, JobProgress(queue.job(job_id)))
            yield from run_job(
                queue,
                job_id,
                connector,
                peer,
                history=self.services.history,
                parallel=node.max_associations,
                wait=False,
            )
            failures = [f"{i.item.path}: {i.message}" for i in queue.instances(job_id, FAILED)]
            yield JobUpdate(node.name, JobProgress(queue.job(job_id)), failures)
        finally:
            queue.close()

    def _relay(self, node: str, record: Any) -> None:
        if isinstance(record, JobUpdate):
            self.job_updated.emit(record)
        elif isinstance(record, JobProgress):
            self.job_updated.emit(JobUpdate(node, record))
        elif isinstance(record, SessionEvent):
            self.session.emit(node, record)
        elif isinstance(record, StoreOutcome) and record.note:
            self.note.emit(node, f"{record.item.path.name}: {record.note}")
