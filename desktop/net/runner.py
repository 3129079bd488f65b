"""Running a queued job: send what is due, record every outcome, retry transient failures.

An unexpected exception while sending (a decoder that cannot convert a file, a bug) becomes
the recorded failure of the instance being sent; the others go on.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

from desktop.net.cancel import Cancel
from desktop.net.cancel_watch import cancelled_elsewhere
from desktop.net.claim import claim
from desktop.net.history import History
from desktop.net.link import DEFAULT_ATTEMPTS, Connector, Failure
from desktop.net.queue import PENDING, JobSummary, QueuedInstance, RetryPolicy, TransferQueue
from desktop.net.store import (
    Peer,
    SessionEvent,
    StoreItem,
    StoreOutcome,
    plan_associations,
    store,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobProgress:
    """The job's counts after an instance's outcome was committed."""

    job: JobSummary


@dataclass(frozen=True, slots=True)
class JobWaiting:
    """Nothing is due: the job waits until ``until`` (epoch seconds) because of ``reason``."""

    job: JobSummary
    until: float
    reason: str


Record = StoreOutcome | SessionEvent | JobProgress | JobWaiting
DEFAULT_POLICY = RetryPolicy()


def send_policy(attempts: int = DEFAULT_ATTEMPTS) -> RetryPolicy:
    """The backoff of every send, the CLI's and the GUI's: 1, 2, 4 ... s, ``attempts`` tries."""
    return RetryPolicy(attempts=max(attempts, 1), base=1.0)


def run_job(
    queue: TransferQueue,
    job_id: int,
    connect: Connector,
    peer: Peer,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    parallel: int = 1,
    compress: str = "none",
    history: History | None = None,
    wait: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    cancel: Cancel | None = None,
    enqueued: Sequence[QueuedInstance] = (),
) -> Iterator[Record]:
    """Send the job's due instances until none is pending (waiting out backoffs when ``wait``),
    over up to ``parallel`` associations at once, compressed as ``compress`` says
    (``enqueued``: its instances as ``TransferQueue.enqueued`` just recorded them, sent first
    without reading them back).

    Stop iterating to pause: what was acknowledged is committed, the rest stays pending.
    ``cancel`` stops it from another thread even while a peer keeps silent, and so does
    the job's cancel in the queue by another process (``queue cancel``): the failures that
    the cancel itself causes are not recorded.

    The job is claimed at once: JobTakenError, before anything is sent or recorded, when another
    process is sending it.
    """
    held = claim(queue.path, job_id)
    cancel = Cancel() if cancel is None else cancel
    sending = _sending(
        queue,
        job_id,
        cancel.connector(connect),
        peer,
        policy=policy,
        parallel=parallel,
        compress=compress,
        history=history,
        wait=wait,
        sleep=sleep,
        clock=clock,
        cancel=cancel,
        enqueued=enqueued,
    )
    return _claimed(held, cancelled_elsewhere(queue.path, job_id, cancel), sending)


def _claimed(
    held: ExitStack, watch: AbstractContextManager[None], records: Iterator[Record]
) -> Iterator[Record]:
    """``records``, the job claimed until they end and watched while they are iterated."""
    with held, watch:
        yield from records


def _sending(
    queue: TransferQueue,
    job_id: int,
    connect: Connector,
    peer: Peer,
    *,
    policy: RetryPolicy,
    parallel: int,
    compress: str,
    history: History | None,
    wait: bool,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    cancel: Cancel,
    enqueued: Sequence[QueuedInstance],
) -> Iterator[Record]:
    """``run_job``'s sending, through links ``cancel`` shuts down."""
    summary = queue.job(job_id)
    node, deidentified = summary.node, summary.deidentified
    failed_associations: set[str] = set()  # said once per job, not once per instance
    while True:
        if summary.cancelled or not summary.pending or (cancel is not None and cancel.cancelled):
            return
        pending = list(enqueued) or queue.instances(job_id, PENDING)
        enqueued = ()
        now = clock()
        due = [i for i in pending if i.next_attempt <= now]
        if not due:
            if not wait:
                return
            until = min(i.next_attempt for i in pending)
            yield JobWaiting(summary, until, pending[0].message)
            sleep(max(until - now, 0.0))
            summary = queue.job(job_id)
            continue
        sending = [i.item for i in due]
        by_item = {id(item): instance for item, instance in zip(sending, due, strict=True)}
        for record in parallel_store(connect, peer, sending, parallel, compress=compress):
            answered = isinstance(record, StoreOutcome) and record.ok
            if cancel.cancelled and not answered:
                return  # the links were shut down under it: nothing more is true of the peer
            if isinstance(record, StoreOutcome):
                instance = by_item[id(record.item)]
                state = queue.record(instance, record, policy, clock())
                if not record.ok and record.message not in failed_associations:
                    logger.log(  # a final failure is the caller's to say (a send's summary)
                        logging.WARNING if state == PENDING else logging.INFO,
                        "job %d to %s: %s: %s",
                        job_id,
                        node,
                        record.item.path,
                        record.message,
                    )
                summary = summary.moved(
                    instance.item.size, instance.state, state, cancelled=queue.cancelled(job_id)
                )
                yield record
                yield JobProgress(summary)
                if summary.cancelled:
                    return  # closing the sender aborts its association
                continue
            text = record.failure.text if record.failure is not None else ""
            if record.kind == "failed" and text in failed_associations:
                yield record  # the same failure again (a retry, another association)
                continue
            if text:
                failed_associations.add(text)
                logger.warning("job %d to %s: association failed: %s", job_id, node, text)
            if history is not None:
                history.append(
                    {
                        "node": node,
                        "job": job_id,
                        "event": record.kind,
                        "sent": record.sent,
                        "transcript": record.transcript,
                        "failure": record.failure and record.failure.text,
                        **({"deidentified": deidentified} if deidentified else {}),
                    }
                )
            yield record
        summary = queue.job(job_id)  # the pass's counts as recorded, and a cancel since


def parallel_store(
    connect: Connector, peer: Peer, items: list[StoreItem], parallel: int, *, compress: str = "none"
) -> Iterator[StoreOutcome | SessionEvent]:
    """``store`` over up to ``parallel`` associations, records merged as they come (the
    caller's thread alone touches the queue). Stopping the iteration stops the workers."""
    chunks = [items[i::parallel] for i in range(max(parallel, 1))]
    chunks = [c for c in chunks if c]
    if len(chunks) <= 1:
        yield from guarded_store(connect, peer, items, compress=compress)
        return
    records: queue.Queue[StoreOutcome | SessionEvent | None] = queue.Queue()
    stop = threading.Event()

    def work(chunk: list[StoreItem]) -> None:
        try:
            for record in guarded_store(connect, peer, chunk, compress=compress):
                records.put(record)
                if stop.is_set():
                    break
        finally:
            records.put(None)

    workers = [threading.Thread(target=work, args=(c,), daemon=True) for c in chunks]
    for worker in workers:
        worker.start()
    running = len(workers)
    try:
        while running:
            record = records.get()
            if record is None:
                running -= 1
            else:
                yield record
    finally:
        stop.set()


def guarded_store(
    connect: Connector, peer: Peer, items: list[StoreItem], *, compress: str = "none"
) -> Iterator[StoreOutcome | SessionEvent]:
    """``store``, where an unexpected exception ends the pass with a failed association and
    the permanent failure of the item that was being sent (the first without an outcome, in
    the order ``store`` sends them); the items after it get no outcome and stay pending."""
    answered: set[int] = set()
    try:
        for record in store(connect, peer, items, compress=compress):
            if isinstance(record, StoreOutcome):
                answered.add(id(record.item))
            yield record
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # a decoder's panic is a BaseException too
        logger.warning("sending stopped by an unexpected error", exc_info=error)
        reason = f"could not be sent: {type(error).__name__}: {error}"
        yield SessionEvent("failed", failure=Failure("internal-error", reason, False))
        order = [i for plan in plan_associations(items) for i in plan.items]
        culprit = next((i for i in order if id(i) not in answered), None)
        if culprit is not None:
            yield StoreOutcome(culprit, False, False, reason)
