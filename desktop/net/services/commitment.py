"""Storage commitment in the listener, as two services of its dispatch: the provider
(N-ACTION answered from what the local store holds, the report sent on the same association,
or on a new one when the requestor let this one go) and the reports of our own requests.

The composition gives a :class:`CommitmentServices`: the store, how to reach a requesting AE
on a new association (a configured node), and where reports of our requests go (the queue).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from desktop.core.access import STORE
from desktop.net import dimse, pdu
from desktop.net.association import UNCOMPRESSED_SYNTAXES, Association
from desktop.net.commitment import (
    ALL_COMMITTED,
    INVALID_ARGUMENT,
    NO_SUCH_ACTION,
    NO_SUCH_EVENT,
    NO_SUCH_INSTANCE,
    PROCESSING_FAILURE,
    PUSH_MODEL,
    PUSH_MODEL_INSTANCE,
    REQUEST_COMMITMENT,
    SOME_FAILED,
    SUCCESS,
    DataSetError,
    Reference,
    Report,
    parse_report,
    parse_request,
    report_dataset,
)
from desktop.net.exchange import Exchange, Service
from desktop.net.link import Connector, Failure, LinkError
from desktop.net.status import N_EVENT_REPORT, status

if TYPE_CHECKING:  # pydicom loads with the store, not with every listener
    from desktop.core.archive import Archive

NO_SUCH_OBJECT_INSTANCE = 0x0117  # the Push Model has one SOP instance

#: (requesting AE title, report) → '' once delivered, else why it could not be.
Deliver = Callable[[str, Report], str]
#: (report, sending AE title) → '' once matched to our transaction, else why it was ignored.
ReportSink = Callable[[Report, str], str]


@dataclass(frozen=True, slots=True)
class CommitmentServices:
    """What the listener needs for storage commitment."""

    archive: "Archive"
    deliver: Deliver
    on_report: ReportSink


def judge(archive: "Archive", transaction_uid: str, references: Sequence[Reference]) -> Report:
    """The report for a request: each instance committed when the store holds it under that
    SOP class, else failed with "no such object instance"."""
    committed, failed = [], []
    for reference in references:
        held = archive.holds(
            sop_class_uid=reference.sop_class_uid, sop_instance_uid=reference.sop_instance_uid
        )
        if held is None:
            failed.append((reference, NO_SUCH_INSTANCE))
        else:
            committed.append(reference)
    return Report(transaction_uid, tuple(committed), tuple(failed))


def send_report(connect: Connector, *, called: str, calling: str, report: Report) -> None:
    """Send ``report`` on a new association to the AE that asked (we request it, in the SCP
    role of the Push Model: role selection proposed). Raises LinkError on any failure."""
    link = connect()
    association = Association.request(
        link,
        called,
        calling,
        [pdu.ProposedContext(1, PUSH_MODEL, UNCOMPRESSED_SYNTAXES)],
        roles=(pdu.RoleSelection(PUSH_MODEL, 0, 1),),
    )
    finished = False
    try:
        result = association.accepted(1)
        if result is None:
            raise LinkError(
                _refused(f"{called} does not accept storage commitment reports"), link.transcript
            )
        syntax = pdu.uid(result.transfer_syntax or "")
        message_id = association.next_message_id()
        association.send_command(
            1,
            dimse.event_report_request(
                message_id, PUSH_MODEL, PUSH_MODEL_INSTANCE, report.event_type
            ),
        )
        body = report_dataset(report, syntax)
        association.send_dataset(1, [body], len(body))
        response = association.response(1, message_id, dimse.N_EVENT_REPORT_RQ)
        answer = status(N_EVENT_REPORT, response.status)
        association.release()
        finished = True
        if not answer.done:
            raise LinkError(
                _refused(f"{called} refused the report: {answer.describe()}"), link.transcript
            )
    finally:
        if not finished:
            association.abort()


def _refused(text: str) -> Failure:
    return Failure("service-refused", text, False)


def commitment_services(services: CommitmentServices) -> list[Service]:
    """The listener's services for the Push Model: N-ACTION (provider), N-EVENT-REPORT (the
    reports of our own requests). Both are for callers granted 'store'."""
    classes = frozenset({PUSH_MODEL})
    return [
        Service(dimse.N_ACTION_RQ, classes, STORE, partial(serve_action, services)),
        Service(dimse.N_EVENT_REPORT_RQ, classes, STORE, partial(serve_report, services)),
    ]


def serve_action(services: CommitmentServices, exchange: Exchange) -> None:
    """Answer a storage commitment request, then send its report: on this association, or
    on a new one when the requestor ends this one before answering it."""
    request = exchange.request
    problem = _action_problem(request.command)
    transaction, references = "", list[Reference]()
    if problem is None:
        try:
            transaction, references = parse_request(
                request.identifier or b"", request.transfer_syntax
            )
        except DataSetError as error:
            problem = (INVALID_ARGUMENT, error.detail)
    elements: dict[int, str | int] = {
        dimse.AFFECTED_SOP_INSTANCE: PUSH_MODEL_INSTANCE,
        dimse.ACTION_TYPE_ID: REQUEST_COMMITMENT,
    }
    if problem is not None:
        code, why = problem
        exchange.respond(code, elements=elements, comment=why)
        exchange.report("commitment-refused", status=code, error=why)
        return
    exchange.respond(SUCCESS, elements=elements)
    report = judge(services.archive, transaction, references)
    exchange.report(
        "commitment-requested",
        transaction=transaction,
        committed=len(report.committed),
        failed=len(report.failed),
    )
    message_id = exchange.next_message_id()
    try:
        exchange.send(
            request.context_id,
            dimse.event_report_request(
                message_id, PUSH_MODEL, PUSH_MODEL_INSTANCE, report.event_type
            ),
            report_dataset(report, request.transfer_syntax),
        )
        command, _ = exchange.response(message_id)
    except (OSError, TimeoutError) as error:  # released, closed or silent: a new association
        if not exchange.later(partial(_report_anew, services, exchange, report)):
            exchange.report(
                "commitment-report-failed",
                transaction=transaction,
                association="new",
                error="as many reports as the listener takes associations are already waiting "
                "on nodes that have not answered: this one is not sent (ask again later)",
            )
        raise error
    code = int(command.get(dimse.STATUS, -1))
    exchange.report(
        "commitment-report-sent",
        transaction=transaction,
        association="same",
        **({"status": code} if code != SUCCESS else {}),
    )


def _report_anew(services: CommitmentServices, exchange: Exchange, report: Report) -> None:
    """Send ``report`` on a new association to the AE that asked, and record how it went
    (on a thread of its own: a node that never answers holds up no association)."""
    why = services.deliver(exchange.request.calling, report)
    exchange.report(
        "commitment-report-failed" if why else "commitment-report-sent",
        transaction=report.transaction_uid,
        association="new",
        **({"error": why} if why else {}),
    )


def _action_problem(command: dict[int, str | int]) -> tuple[int, str] | None:
    if command.get(dimse.ACTION_TYPE_ID) != REQUEST_COMMITMENT:
        return NO_SUCH_ACTION, f"action type {command.get(dimse.ACTION_TYPE_ID)} unknown"
    if command.get(dimse.REQUESTED_SOP_INSTANCE) != PUSH_MODEL_INSTANCE:
        return NO_SUCH_OBJECT_INSTANCE, f"the Push Model's instance is {PUSH_MODEL_INSTANCE}"
    return None


def serve_report(services: CommitmentServices, exchange: Exchange) -> None:
    """Match a report of one of our requests; anything else is answered with a failure and
    changes nothing."""
    request = exchange.request
    event = request.command.get(dimse.EVENT_TYPE_ID)
    details: dict[str, object] = {}
    if event not in (ALL_COMMITTED, SOME_FAILED):
        code, why = NO_SUCH_EVENT, f"event type {event} unknown"
    else:
        try:
            report = parse_report(request.identifier or b"", request.transfer_syntax)
            details = {"transaction": report.transaction_uid}
            why = services.on_report(report, request.calling)
            details |= {"committed": len(report.committed), "failed": len(report.failed)}
        except DataSetError as error:
            why = error.detail
        code = PROCESSING_FAILURE if why else SUCCESS
    elements: dict[int, str | int] = {dimse.AFFECTED_SOP_INSTANCE: PUSH_MODEL_INSTANCE}
    if isinstance(event, int):
        elements[dimse.EVENT_TYPE_ID] = event
    exchange.respond(code, elements=elements, comment=why)
    if why:
        exchange.report("commitment-report-ignored", status=code, error=why, **details)
    else:
        exchange.report("commitment-report", **details)
