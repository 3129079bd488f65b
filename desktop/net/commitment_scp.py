"""Storage commitment in the listener: the provider (N-ACTION answered from what the local
store holds, the report sent back) and the reports of our own requests received.

The composition gives the listener a :class:`CommitmentServices`: the store, how to reach a
requesting AE on a new association (a configured node), and where our reports go (the queue).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
    Reference,
    Report,
    parse_report,
    parse_request,
    report_dataset,
)
from desktop.net.link import Connector, Failure, LinkError, ProtocolError
from desktop.net.status import N_EVENT_REPORT, status

if TYPE_CHECKING:  # pydicom loads with the store, not with every listener
    from desktop.core.archive import Archive

log = logging.getLogger(__name__)
MAX_DATA = 32 * 1024 * 1024  # a request naming 100,000 instances is ~15 MB

#: (requesting AE title, report) → '' once delivered, else why it could not be.
Deliver = Callable[[str, Report], str]
#: (report, sending AE title) → '' once matched to our transaction, else why it was ignored.
ReportSink = Callable[[Report, str], str]


@dataclass(frozen=True, slots=True)
class CommitmentServices:
    """What the listener needs for storage commitment; ``archive`` None: no provider."""

    archive: "Archive | None"
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


def _comment(text: str) -> str:
    """An Error Comment: 64 ASCII characters at most."""
    return text.encode("ascii", "replace").decode()[:64]


def _refused(text: str) -> Failure:
    return Failure("service-refused", text, False)


Send = Callable[[int, bytes, bytes | None], None]  # context, command, data set (or None)
Event = Callable[..., None]  # the listener's record of what happened (name, details)


class CommitmentSession:
    """Storage commitment on one association of the listener: an N-ACTION answered and its
    report sent on the same association (on a new one when this one ends before the
    requestor answered it); an N-EVENT-REPORT for one of our requests matched."""

    def __init__(
        self, services: CommitmentServices, calling: str, send: Send, event: Event
    ) -> None:
        self.services = services
        self.calling = calling
        self.send = send
        self.event = event
        self.command: dict[int, str | int] | None = None  # the request whose data set comes
        self.context_id = 0
        self.syntax = ""
        self.data = bytearray()
        self.outstanding: tuple[int, Report] | None = None  # our report, not yet answered
        self._message_id = 0

    HANDLES = frozenset({dimse.N_ACTION_RQ, dimse.N_EVENT_REPORT_RQ, dimse.N_EVENT_REPORT_RSP})

    @property
    def receiving(self) -> bool:
        return self.command is not None

    def begin(self, context_id: int, command: dict[int, str | int], syntax: str) -> None:
        """A command of the Push Model arrived on ``context_id`` (accepted with ``syntax``)."""
        field_ = command.get(dimse.COMMAND_FIELD)
        if field_ == dimse.N_EVENT_REPORT_RSP:
            self._answered(command)
            return
        if command.get(dimse.DATASET_TYPE) == dimse.NO_DATASET:
            raise ProtocolError(f"command 0x{int(field_ or 0):04X} without its data set")
        self.command, self.context_id, self.syntax = command, context_id, syntax
        self.data.clear()

    def fragment(self, context_id: int, fragment: bytes, *, last: bool) -> None:
        if context_id != self.context_id:
            raise ProtocolError("a data set fragment on another context than its command")
        self.data += fragment
        if len(self.data) > MAX_DATA:
            raise ProtocolError(f"a storage commitment data set above {MAX_DATA:,} bytes")
        if last:
            command, self.command = self.command, None
            assert command is not None
            if command.get(dimse.COMMAND_FIELD) == dimse.N_ACTION_RQ:
                self._action(command, bytes(self.data))
            else:
                self._report(command, bytes(self.data))

    def _action(self, command: dict[int, str | int], data: bytes) -> None:
        message_id = int(command.get(dimse.MESSAGE_ID, 0))
        problem = self._action_problem(command)
        try:
            transaction, references = parse_request(data, self.syntax) if not problem else ("", [])
        except ProtocolError as error:
            problem = (INVALID_ARGUMENT, str(error))
        archive = self.services.archive
        if archive is None and not problem:
            problem = (NO_SUCH_ACTION, "this listener does not commit to storage (no store)")
        extra: dict[int, str | int] = {dimse.ACTION_TYPE_ID: REQUEST_COMMITMENT}
        if problem:
            extra[dimse.ERROR_COMMENT] = _comment(problem[1])
        self.send(
            self.context_id,
            dimse.response(
                dimse.N_ACTION_RSP,
                message_id,
                problem[0] if problem else SUCCESS,
                sop_class=PUSH_MODEL,
                sop_instance=PUSH_MODEL_INSTANCE,
                extra=extra,
            ),
            None,
        )
        if problem or archive is None:
            code, why = problem or (NO_SUCH_ACTION, "")
            self.event("commitment-refused", status=code, error=why)
            return
        report = judge(archive, transaction, references)
        self.event(
            "commitment-requested",
            transaction=transaction,
            committed=len(report.committed),
            failed=len(report.failed),
        )
        self._message_id += 1
        self.outstanding = (self._message_id, report)
        self.send(
            self.context_id,
            dimse.event_report_request(
                self._message_id, PUSH_MODEL, PUSH_MODEL_INSTANCE, report.event_type
            ),
            report_dataset(report, self.syntax),
        )

    @staticmethod
    def _action_problem(command: dict[int, str | int]) -> tuple[int, str] | None:
        if command.get(dimse.ACTION_TYPE_ID) != REQUEST_COMMITMENT:
            return NO_SUCH_ACTION, f"action type {command.get(dimse.ACTION_TYPE_ID)} unknown"
        if command.get(dimse.REQUESTED_SOP_INSTANCE) != PUSH_MODEL_INSTANCE:
            return 0x0117, "the Push Model has one SOP instance, 1.2.840.10008.1.20.1.1"
        return None

    def _answered(self, command: dict[int, str | int]) -> None:
        if self.outstanding and command.get(dimse.MESSAGE_ID_RESPONDED) == self.outstanding[0]:
            code = command.get(dimse.STATUS)
            if code != SUCCESS:
                log.warning("%s answered our commitment report with 0x%04X", self.calling, code)
            self.outstanding = None

    def _report(self, command: dict[int, str | int], data: bytes) -> None:
        message_id = int(command.get(dimse.MESSAGE_ID, 0))
        event = command.get(dimse.EVENT_TYPE_ID)
        details: dict[str, object] = {}
        if event not in (ALL_COMMITTED, SOME_FAILED):
            code, why = NO_SUCH_EVENT, f"event type {event} unknown"
        else:
            try:
                report = parse_report(data, self.syntax)
                details = {"transaction": report.transaction_uid}
                why = self.services.on_report(report, self.calling)
                details |= {"committed": len(report.committed), "failed": len(report.failed)}
            except ProtocolError as error:
                why = str(error)
            code = PROCESSING_FAILURE if why else SUCCESS
        if why:
            self.event("commitment-report-ignored", status=code, error=why, **details)
        else:
            self.event("commitment-report", **details)
        extra: dict[int, str | int] = {dimse.ERROR_COMMENT: _comment(why)} if why else {}
        if isinstance(event, int):
            extra[dimse.EVENT_TYPE_ID] = event
        self.send(
            self.context_id,
            dimse.response(
                dimse.N_EVENT_REPORT_RSP,
                message_id,
                code,
                sop_class=PUSH_MODEL,
                sop_instance=PUSH_MODEL_INSTANCE,
                extra=extra,
            ),
            None,
        )

    def finish(self) -> str:
        """The association ended: a report it did not answer goes on a new association
        ('' when there was none to send or it went, else why it could not)."""
        if self.outstanding is None:
            return ""
        _, report = self.outstanding
        self.outstanding = None
        return self.services.deliver(self.calling, report)
