"""Running a queued job: send what is due, record every outcome, retry transient failures."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from desktop.net.history import History
from desktop.net.link import Connector
from desktop.net.queue import PENDING, JobSummary, RetryPolicy, TransferQueue
from desktop.net.store import Peer, SessionEvent, StoreOutcome, store


@dataclass(frozen=True, slots=True)
class JobProgress:
    """The job's counts after an instance's outcome was committed."""

    job: JobSummary


Record = StoreOutcome | SessionEvent | JobProgress
DEFAULT_POLICY = RetryPolicy()


def run_job(
    queue: TransferQueue,
    job_id: int,
    connect: Connector,
    peer: Peer,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    history: History | None = None,
    wait: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Iterator[Record]:
    """Send the job's due instances until none is pending (waiting out backoffs when ``wait``).

    Stop iterating to pause: what was acknowledged is committed, the rest stays pending.
    """
    node = queue.job(job_id).node
    while True:
        summary = queue.job(job_id)
        if summary.cancelled or not summary.pending:
            return
        pending = queue.instances(job_id, PENDING)
        now = clock()
        due = [i for i in pending if i.next_attempt <= now]
        if not due:
            if not wait:
                return
            sleep(max(min(i.next_attempt for i in pending) - now, 0.0))
            continue
        by_item = {id(i.item): i for i in due}
        for record in store(connect, peer, [i.item for i in due]):
            if isinstance(record, StoreOutcome):
                queue.record(by_item[id(record.item)], record, policy, clock())
                yield record
                yield JobProgress(queue.job(job_id))
                continue
            if history is not None:
                history.append(
                    {
                        "node": node,
                        "job": job_id,
                        "event": record.kind,
                        "sent": record.sent,
                        "transcript": record.transcript,
                        "failure": record.failure and record.failure.text,
                    }
                )
            yield record
