"""What C-MOVE and C-GET share (PS3.4 C.4.2, C.4.3): the files of the identifier, pending
responses with the sub-operation counts as the C-STOREs go, C-CANCEL honoured between them,
and the final status with the Failed SOP Instance UID List."""

import logging
import os
import time
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.archive import (
    UNABLE_TO_PROCESS,
    Archive,
    InvalidQueryError,
    PatientConflictError,
)
from desktop.core.errors import HeaderError
from desktop.core.header import read_meta
from desktop.net import dimse
from desktop.net.exchange import Command, Exchange
from desktop.net.services.identifier import parse_query

log = logging.getLogger(__name__)

SUCCESS, WARNING, CANCELLED, PENDING = 0x0000, 0xB000, 0xFE00, 0xFF00
ALL_FAILED = 0xA702  # refused: unable to perform sub-operations (every one failed)

# One sub-operation's result: the SOP instance and its category ("success", "warning",
# "failure", as status.Status.category says).
Result = tuple[str, str]
SubOperations = Callable[[list[Path]], Generator[Result, None, None]]


#: Seconds between pending responses after the first (PS3.4 C.1.4 b and c: the SCP
#: "may optionally" send them). One after every sub-operation cost the requestor a wake-up
#: and us a write per instance; four a second still show progress.
PENDING_INTERVAL = 0.25
META_READ = 1 << 16  # file meta information is a few hundred bytes


@dataclass(frozen=True, slots=True)
class FileMeta:
    """What a sub-operation needs of a file: its File Meta Information alone."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    dataset_offset: int
    size: int


def file_meta(path: Path) -> FileMeta:
    """The file meta of ``path`` (no walk through its data set: the store checked it when it
    was filed). HeaderError or OSError when it cannot be read."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(META_READ)
    if head[128:132] != b"DICM":
        raise HeaderError("not a DICOM Part 10 file (no 'DICM' after the preamble)")
    values, offset = read_meta(head, len(head))
    if offset >= len(head) and size > len(head):
        raise HeaderError(f"its file meta information is longer than {META_READ} bytes")
    syntax, sop_class, sop_instance = (
        values.get(tag, b"").decode("ascii", "replace").strip("\0 ")
        for tag in (0x00020010, 0x00020002, 0x00020003)
    )
    return FileMeta(sop_class, sop_instance, syntax, offset, size)


@dataclass(slots=True)
class Tally:
    """Sub-operation counts and the instances that failed."""

    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_instances: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  #: what the identifier located
    delivered: list[str] = field(default_factory=list)  #: instances stored (or with warning)

    def count(self, instance: str, category: str) -> None:
        self.remaining -= 1
        if category in ("success", "warning"):
            self.delivered.append(instance)
        if category == "success":
            self.completed += 1
        elif category == "warning":
            self.warning += 1
        else:
            self.failed += 1
            if instance:
                self.failed_instances.append(instance)

    def elements(self, *, remaining: bool) -> Command:
        counts: Command = {
            dimse.COMPLETED: self.completed,
            dimse.FAILED_COUNT: self.failed,
            dimse.WARNING_COUNT: self.warning,
        }
        if remaining:
            counts[dimse.REMAINING] = self.remaining
        return counts


def located(archive: Archive, exchange: Exchange) -> list[Path] | None:
    """The files the request's identifier names; None once a refusal has been answered."""
    try:
        model, level, identifier = parse_query(exchange.request)
        return archive.locate(model=model, level=level, identifier=identifier)
    except PatientConflictError as conflict:
        log.warning("refused a retrieve by %s: %s", exchange.request.calling, conflict)
        finish(
            exchange,
            Tally(0),
            conflict.status,
            str(conflict),
            comment=conflict.comment,
            study=conflict.study_uid,
            patients=conflict.patients,
            failure=str(conflict),  # what the history says of it
        )
    except InvalidQueryError as refused:
        finish(exchange, Tally(0), refused.status, str(refused))
    except Exception as error:
        log.exception("the store failed to locate a retrieve's files")
        finish(exchange, Tally(0), UNABLE_TO_PROCESS, f"the store failed: {error}")
    return None


def perform(exchange: Exchange, files: list[Path], sub_operations: SubOperations) -> None:
    """Run the sub-operations, answering pending after the first (the requestor learns the
    total at once) and then at most every PENDING_INTERVAL, and the final response."""
    tally = Tally(len(files), files=files)
    due = 0.0  # when the next pending response may go
    with closing(sub_operations(files)) as results:  # a cancel ends the sub-operations
        for instance, category in results:
            tally.count(instance, category)
            if exchange.poll():
                finish(exchange, tally, CANCELLED)
                return
            if tally.remaining and time.monotonic() >= due:
                exchange.respond(PENDING, elements=tally.elements(remaining=True))
                due = time.monotonic() + PENDING_INTERVAL
    if not tally.failed and not tally.warning:
        finish(exchange, tally, SUCCESS)
    elif not tally.completed and not tally.warning:
        finish(exchange, tally, ALL_FAILED, "every sub-operation failed")
    else:
        finish(exchange, tally, WARNING)


def finish(
    exchange: Exchange,
    tally: Tally,
    status: int,
    reason: str = "",
    *,
    destination_refused: bool = False,
    comment: str = "",
    **shared: object,
) -> None:
    """The final response (the failed instances listed unless it is a success; ``comment``
    its Error Comment, else ``reason``) and its record in the listener's sink, with the files
    located, the instances delivered and the destination (the move's, or the requestor of a
    C-GET) that the audit trail needs, whether that destination was refused, and ``shared``:
    the study and patients of a UID held for several, when that refused the retrieve."""
    dataset = None
    if tally.failed_instances:
        from pydicom import Dataset

        dataset = Dataset()
        dataset.FailedSOPInstanceUIDList = tally.failed_instances
    exchange.respond(
        status,
        dataset=dataset,
        elements=tally.elements(remaining=status == CANCELLED),
        comment=comment or reason,
    )
    request = exchange.request
    get = request.command_field == dimse.C_GET_RQ
    exchange.report(
        "retrieve-answered",
        service="C-GET" if get else "C-MOVE",
        destination=request.calling
        if get
        else str(request.command.get(dimse.MOVE_DESTINATION, "")).strip(),
        files=[str(f) for f in tally.files],
        delivered=tally.delivered,
        status=status,
        completed=tally.completed,
        failed=tally.failed,
        warning=tally.warning,
        **({"reason": reason} if reason else {}),
        **({"destination_refused": True} if destination_refused else {}),
        **({"failed_instances": tally.failed_instances} if tally.failed_instances else {}),
        **shared,
    )
