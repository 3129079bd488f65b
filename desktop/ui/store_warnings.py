"""What a peer said of the instances it stored with a warning (0xB000 elements coerced,
0xB006 discarded, 0xB007 not matching the SOP class): the job still counts them stored, and
its Transfers row and Log line say it, as `send` and `queue show` do."""

from collections import Counter
from dataclasses import dataclass

from desktop.net.queue import TransferQueue


@dataclass(frozen=True, slots=True)
class StoreWarnings:
    count: int  #: instances stored with a warning
    said: str  #: 'the peer stored 3 of them with a warning: elements discarded (0xB006), …'
    lines: tuple[str, ...]  #: one per instance: '<path>: stored, but PACS answered warning: …'


def store_warnings(queue: TransferQueue, job_id: int, node: str) -> StoreWarnings | None:
    """The warnings the peer gave the job's stored instances; None when it gave none."""
    warned = queue.warned(job_id)
    if not warned:
        return None
    counts = Counter(i.message.removeprefix("warning: ") for i in warned)
    kinds = ", ".join(f"{m} ×{n}" if n > 1 else m for m, n in counts.items())
    return StoreWarnings(
        len(warned),
        f"the peer stored {len(warned)} of them with a warning: {kinds}",
        tuple(f"{i.item.path}: stored, but {node} answered {i.message}" for i in warned),
    )
