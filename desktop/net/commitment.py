"""Storage Commitment Push Model (PS3.4 annex J): the request and report data sets, and the
requestor's side — an N-ACTION after the stores, then the N-EVENT-REPORT on the same
association when the peer sends it there.

A report that comes later on another association (to ``listen``) is matched by the queue
(``TransferQueue.apply_report``): the transaction is on disk, so a restart loses nothing.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desktop.net import dimse, pdu
from desktop.net.association import UNCOMPRESSED_SYNTAXES, Association, Message
from desktop.net.cancel import Cancel
from desktop.net.link import Connector, LinkError, ProtocolError
from desktop.net.status import N_ACTION, status

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from desktop.net.queue import AppliedReport, TransferQueue


PUSH_MODEL = "1.2.840.10008.1.20.1"
PUSH_MODEL_INSTANCE = "1.2.840.10008.1.20.1.1"  # the well-known SOP instance
REQUEST_COMMITMENT = 1  # the only action type
ALL_COMMITTED, SOME_FAILED = 1, 2  # event types
SUCCESS = 0x0000
PROCESSING_FAILURE, NO_SUCH_INSTANCE, INVALID_ARGUMENT = 0x0110, 0x0112, 0x0115
NO_SUCH_ACTION, NO_SUCH_EVENT = 0x0123, 0x0113
#: Failure Reason (0008,1197) values, PS3.3 C.14.1.1.
FAILURE_REASONS = {
    0x0110: "processing failure",
    0x0112: "no such object instance: the archive does not hold it",
    0x0213: "resource limitation",
    0x0122: "referenced SOP class not supported",
    0x0119: "class / instance conflict: the archive holds it under another SOP class",
    0x0131: "duplicate transaction UID",
}
MAX_REFERENCES = 100_000  # one transaction: more is a hostile request
POLL = 0.25  # seconds between checks of the queue while waiting on the association


class DataSetError(ProtocolError):
    """A request or report whose data set does not say what the Push Model needs;
    ``detail`` says what is wrong (for an Error Comment)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _decoded(data: bytes, syntax: str) -> "Dataset":
    from desktop.net.encoding import decode

    try:
        return decode(data, syntax)
    except ProtocolError as error:
        raise DataSetError("its data set cannot be read") from error


@dataclass(frozen=True, slots=True)
class Reference:
    """One SOP instance named in a request or a report."""

    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True, slots=True)
class Report:
    """A storage commitment result: what was committed, what failed and why (reason codes)."""

    transaction_uid: str
    committed: tuple[Reference, ...] = ()
    failed: tuple[tuple[Reference, int], ...] = ()

    @property
    def event_type(self) -> int:
        return SOME_FAILED if self.failed else ALL_COMMITTED


def failure_reason(code: int) -> str:
    """The Failure Reason in words."""
    words = FAILURE_REASONS.get(code, "a reason the standard does not define")
    return f"not committed: {words} (0x{code:04X})"


def _references(references: Sequence[Reference]) -> list["Dataset"]:
    from pydicom.dataset import Dataset

    items = []
    for reference in references:
        item = Dataset()
        item.ReferencedSOPClassUID = reference.sop_class_uid
        item.ReferencedSOPInstanceUID = reference.sop_instance_uid
        items.append(item)
    return items


def request_dataset(transaction_uid: str, references: Sequence[Reference], syntax: str) -> bytes:
    """The N-ACTION-RQ's Action Information: the Transaction UID and the Referenced SOP
    Sequence."""
    from pydicom.dataset import Dataset

    from desktop.net.encoding import encode

    dataset = Dataset()
    dataset.TransactionUID = transaction_uid
    dataset.ReferencedSOPSequence = _references(references)
    return encode(dataset, syntax)


def report_dataset(report: Report, syntax: str) -> bytes:
    """The N-EVENT-REPORT-RQ's Event Information."""
    from pydicom.dataset import Dataset

    from desktop.net.encoding import encode

    dataset = Dataset()
    dataset.TransactionUID = report.transaction_uid
    if report.committed:
        dataset.ReferencedSOPSequence = _references(report.committed)
    if report.failed:
        items = _references([reference for reference, _ in report.failed])
        for item, (_, reason) in zip(items, report.failed, strict=True):
            item.FailureReason = reason
        dataset.FailedSOPSequence = items
    return encode(dataset, syntax)


def _read_references(
    dataset: "Dataset", keyword: str, *, reasons: bool
) -> list[tuple[Reference, int]]:
    sequence = getattr(dataset, keyword, None) or []
    if len(sequence) > MAX_REFERENCES:
        raise DataSetError(f"the {keyword} names more than {MAX_REFERENCES:,} instances")
    found = []
    for item in sequence:
        sop_class = str(getattr(item, "ReferencedSOPClassUID", "") or "")
        sop_instance = str(getattr(item, "ReferencedSOPInstanceUID", "") or "")
        if not sop_class or not sop_instance:
            raise DataSetError(f"an item of the {keyword} lacks its SOP class or instance UID")
        reason = int(getattr(item, "FailureReason", None) or PROCESSING_FAILURE) if reasons else 0
        found.append((Reference(sop_class, sop_instance), reason))
    return found


def parse_request(data: bytes, syntax: str) -> tuple[str, list[Reference]]:
    """The Transaction UID and references of an N-ACTION-RQ; DataSetError when missing."""
    dataset = _decoded(data, syntax)
    transaction = str(getattr(dataset, "TransactionUID", "") or "")
    if not transaction:
        raise DataSetError("the storage commitment request has no Transaction UID")
    references = _read_references(dataset, "ReferencedSOPSequence", reasons=False)
    if not references:
        raise DataSetError("the storage commitment request names no instance")
    return transaction, [reference for reference, _ in references]


def parse_report(data: bytes, syntax: str) -> Report:
    """The result carried by an N-EVENT-REPORT-RQ; DataSetError when it is malformed."""
    dataset = _decoded(data, syntax)
    transaction = str(getattr(dataset, "TransactionUID", "") or "")
    if not transaction:
        raise DataSetError("the storage commitment report has no Transaction UID")
    committed = _read_references(dataset, "ReferencedSOPSequence", reasons=False)
    failed = _read_references(dataset, "FailedSOPSequence", reasons=True)
    return Report(transaction, tuple(r for r, _ in committed), tuple(failed))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a commitment request: accepted or not, and the report if one came on
    the same association within the wait."""

    accepted: bool
    message: str
    report: Report | None = None
    notes: list[str] = field(default_factory=list)


ReportSink = Callable[[Report, str], str]  # (report, calling AE) → '' or why it was ignored


def request_commitment(
    connect: Connector,
    *,
    called: str,
    calling: str,
    transaction_uid: str,
    references: Sequence[Reference],
    wait: float,
    answered: Callable[[], bool],
    on_report: ReportSink,
) -> Outcome:
    """Ask the peer to commit ``references``; then wait up to ``wait`` seconds for its report
    on this association, or until ``answered()`` says the report came another way (to our
    listener). Raises LinkError when the request cannot be made."""
    link = connect()
    association = Association.request(
        link, called, calling, [pdu.ProposedContext(1, PUSH_MODEL, UNCOMPRESSED_SYNTAXES)]
    )
    result = association.accepted(1)
    if result is None:
        association.abort()
        return Outcome(False, "the peer does not offer storage commitment (Push Model)")
    syntax = pdu.uid(result.transfer_syntax or "")
    finished = False
    try:
        message_id = association.next_message_id()
        association.send_command(
            1,
            dimse.action_request(message_id, PUSH_MODEL, PUSH_MODEL_INSTANCE, REQUEST_COMMITMENT),
        )
        body = request_dataset(transaction_uid, references, syntax)
        association.send_dataset(1, [body], len(body))
        response = association.response(1, message_id, dimse.N_ACTION_RQ)
        answer = status(N_ACTION, response.status)
        if not answer.done:
            association.release()
            finished = True
            comment = response.command.get(dimse.ERROR_COMMENT)
            return Outcome(
                False,
                f"the peer refused the commitment request: {answer.describe()}"
                + (f" ({comment})" if comment else ""),
            )
        outcome = _await_report(association, syntax, wait, answered, on_report, sender=called)
        association.release()
        finished = True
        return outcome
    finally:
        if not finished:
            association.abort()


def _await_report(
    association: Association,
    syntax: str,
    wait: float,
    answered: Callable[[], bool],
    on_report: ReportSink,
    *,
    sender: str,
) -> Outcome:
    """Reports on the association until ours came (here or elsewhere) or ``wait`` ran out.
    A peer that ends the association instead sends its report on another one: the wait
    goes on for that (the request was accepted: nothing is failed for it)."""
    end = time.monotonic() + wait
    notes: list[str] = []
    while time.monotonic() < end:
        if answered():
            return Outcome(True, "the report came on another association", notes=notes)
        if not association.readable(min(POLL, max(end - time.monotonic(), 0.0))):
            continue
        try:
            message = association.request_message(time.monotonic() + association.timeout)
        except ProtocolError:
            raise
        except LinkError as error:  # released or aborted: the report may come to listen
            notes.append(f"the association ended while waiting: {error.failure.text}")
            return _await_elsewhere(end, answered, notes)
        report, ignored = _report_of(association, message, syntax, on_report, sender)
        if not ignored:
            return Outcome(True, "the report came on the same association", report, notes)
        notes.append(ignored)
    return Outcome(True, f"no report within {wait:g} s", notes=notes)


def _await_elsewhere(end: float, answered: Callable[[], bool], notes: list[str]) -> Outcome:
    while time.monotonic() < end:
        if answered():
            return Outcome(True, "the report came on another association", notes=notes)
        time.sleep(POLL)
    return Outcome(True, "no report before the wait ended", notes=notes)


def _report_of(
    association: Association, message: Message, syntax: str, on_report: ReportSink, sender: str
) -> tuple[Report, str]:
    """An N-EVENT-REPORT-RQ received on our association, recorded by ``on_report`` and then
    answered: success, or a processing failure when it was ignored (and why)."""
    command = message.command
    field_ = command.get(dimse.COMMAND_FIELD)
    if field_ != dimse.N_EVENT_REPORT_RQ or message.dataset is None:
        raise ProtocolError(
            f"while waiting for the commitment report the peer sent command "
            f"0x{int(field_ or 0):04X}" + ("" if message.dataset is not None else " without data")
        )
    message_id = int(command.get(dimse.MESSAGE_ID, 0))
    event = command.get(dimse.EVENT_TYPE_ID)
    if event not in (ALL_COMMITTED, SOME_FAILED):
        association.send_command(
            message.context_id,
            dimse.response(dimse.N_EVENT_REPORT_RSP, message_id, NO_SUCH_EVENT),
        )
        raise ProtocolError(f"a storage commitment report with event type {event}")
    report = parse_report(message.dataset, syntax)
    ignored = on_report(report, sender)
    extra: dict[int, str | int] = {dimse.EVENT_TYPE_ID: int(event)}
    if ignored:
        extra[dimse.ERROR_COMMENT] = ignored.encode("ascii", "replace").decode()[:64]
    association.send_command(
        message.context_id,
        dimse.response(
            dimse.N_EVENT_REPORT_RSP,
            message_id,
            PROCESSING_FAILURE if ignored else SUCCESS,
            sop_class=PUSH_MODEL,
            sop_instance=PUSH_MODEL_INSTANCE,
            extra=extra,
        ),
    )
    return report, ignored


@dataclass(frozen=True, slots=True)
class JobCommitment:
    """The end of ``request``: the transaction and how the request went."""

    transaction_uid: str
    outcome: Outcome


def apply(queue: "TransferQueue", report: Report, sender: str) -> "AppliedReport":
    """Record ``report`` (from AE ``sender``) in the queue."""
    return queue.apply_report(
        report.transaction_uid,
        sender,
        [(r.sop_class_uid, r.sop_instance_uid) for r in report.committed],
        [(r.sop_class_uid, r.sop_instance_uid, failure_reason(code)) for r, code in report.failed],
    )


@dataclass(frozen=True, slots=True)
class Transaction:
    """A commitment transaction recorded in the queue, not yet requested."""

    job_id: int
    uid: str
    references: tuple[Reference, ...]


def begin(
    queue: "TransferQueue", job_id: int, *, called: str, again: bool = False
) -> Transaction | None:
    """Record a transaction for the job's sent instances not yet committed (``again``: all
    it sent); they wait from now on. None when there is none to ask about."""
    from pydicom.uid import generate_uid

    uid = generate_uid()
    items = queue.begin_commitment(job_id, uid, called, again=again)
    if not items:
        return None
    return Transaction(
        job_id, uid, tuple(Reference(i.sop_class_uid, i.sop_instance_uid) for i in items)
    )


def request(
    queue: "TransferQueue",
    transaction: Transaction,
    connect: Connector,
    *,
    called: str,
    calling: str,
    wait: float,
    stop: Callable[[], bool] = lambda: False,
    cancel: Cancel | None = None,
) -> JobCommitment:
    """Ask ``called`` to commit ``transaction``'s instances. They stay "waiting" until a report
    says otherwise, in this call or later (``listen`` matches a report that comes on another
    association); ``stop()`` true ends the wait early. ``cancel`` stops it from another
    thread, even while a silent peer holds the handshake, the request or the wait."""
    uid = transaction.uid
    if cancel is not None:
        connect = cancel.connector(connect)
        stopped = stop

        def stop() -> bool:
            return cancel.cancelled or stopped()

    def on_report(report: Report, sender: str) -> str:
        return apply(queue, report, sender).ignored

    try:
        outcome = request_commitment(
            connect,
            called=called,
            calling=calling,
            transaction_uid=uid,
            references=transaction.references,
            wait=wait,
            answered=lambda: stop() or queue.commitment_answered(uid),
            on_report=on_report,
        )
    except LinkError as error:
        queue.abandon_commitment(uid, f"commitment not requested: {error.failure.text}")
        return JobCommitment(uid, Outcome(False, error.failure.text))
    if not outcome.accepted:
        queue.abandon_commitment(uid, f"commitment not requested: {outcome.message}")
    elif cancel is not None and cancel.cancelled and not queue.commitment_answered(uid):
        outcome = Outcome(True, "cancelled while waiting for the report", notes=outcome.notes)
    return JobCommitment(uid, outcome)
