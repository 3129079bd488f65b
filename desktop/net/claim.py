"""One sender per job: a job is claimed by the process sending it, and no other sends it
meanwhile (two `queue run`, a `send` and a `queue run`, the GUI beside the CLI, on one home).

The claim is a lock on a file beside the queue's database (``queue.claims/job-N.lock``),
which the operating system releases when the process ends, however it ends.
"""

from contextlib import ExitStack
from pathlib import Path

from desktop.core.files import lock_if_free, private_folder
from desktop.net.queue import QueueError

CLAIMS = "queue.claims"


class JobTakenError(QueueError):
    """Another process is sending the job."""


def claim(database: Path, job_id: int) -> ExitStack:
    """Claim job ``job_id`` of the queue ``database`` until the stack returned is closed;
    JobTakenError at once when another process holds it."""
    claims = private_folder(database.parent / CLAIMS)
    held = ExitStack()
    if not held.enter_context(lock_if_free(claims / f"job-{job_id}.lock")):
        held.close()
        raise JobTakenError(
            f"job {job_id} is being sent by another process (a send, a queue run or the "
            "desktop application on this home): left to it"
        )
    return held
