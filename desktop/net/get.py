"""C-GET as a requestor: the instances come back as C-STORE sub-operations on our own
association (no inbound port: behind NAT and firewalls), with SCP role selection negotiated
for the storage classes.

Each instance is received exactly as our listener receives one (``receiver.Association``):
streamed into ``OUT/.incoming``, checked, filed under OUT/patient/study/series and only then
answered Success; the ``stored`` record goes to the sink.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from desktop.core.files import private_folder
from desktop.net import acceptor, dimse, pdu
from desktop.net.acceptor import AssociationRequest
from desktop.net.association import OUR_MAX_PDU, UNCOMPRESSED_SYNTAXES, Association
from desktop.net.catalogue import STUDY_ROOT_GET, retrieve_classes
from desktop.net.encoding import decode, encode
from desktop.net.exchange import Command, PeerProtocolError
from desktop.net.link import Connector, Failure, LinkError, ProtocolError
from desktop.net.query import (
    CANCEL_WAIT,
    MoveProgress,
    QueryError,
    failed_instances,
    retrieve_identifier,
)
from desktop.net.receiver import Association as Receiving
from desktop.net.receiver import ListenerSettings, Sink
from desktop.net.status import GET, status
from desktop.net.store import Peer

log = logging.getLogger(__name__)

# What we accept to receive: stored as received, so uncompressed first, then the usual
# compressed syntaxes (the peer picks one per context).
RECEIVED_SYNTAXES = (
    *UNCOMPRESSED_SYNTAXES,
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE lossless
    "1.2.840.10008.1.2.1.99",  # deflated explicit VR little endian
)


@dataclass(slots=True)
class _Responses:
    """The C-GET responses to our request, as the receiving side hands them over."""

    message_id: int
    arrived: list[tuple[Command, bytes | None]] = field(default_factory=list)

    def deliver(self, context_id: int, command: Command, dataset: bytes | None) -> None:
        field_ = command.get(dimse.COMMAND_FIELD)
        responded = command.get(dimse.MESSAGE_ID_RESPONDED)
        if field_ != dimse.C_GET_RSP or responded != self.message_id:
            raise PeerProtocolError(
                f"command 0x{int(field_ or 0):04X} (for message {responded}) came during our "
                f"C-GET (message {self.message_id})",
                acceptor.ABORT_UNEXPECTED_PDU,
            )
        self.arrived.append((command, dataset))


def get(
    connect: Connector,
    peer: Peer,
    settings: ListenerSettings,
    sink: Sink,
    *,
    study_uid: str,
    series_uid: str = "",
) -> Iterator[MoveProgress]:
    """A C-GET of a study (or one series) into ``settings.out``, with its progress; the
    ``stored`` records go to ``sink``. Closing the iterator early cancels it."""
    classes = retrieve_classes(pdu.MAX_CONTEXTS - 1)
    contexts = [pdu.ProposedContext(1, STUDY_ROOT_GET, UNCOMPRESSED_SYNTAXES)] + [
        pdu.ProposedContext(2 * number + 3, sop_class, RECEIVED_SYNTAXES)
        for number, sop_class in enumerate(classes)
    ]
    roles = tuple(pdu.RoleSelection(sop_class, 0, 1) for sop_class in classes)
    private_folder(settings.out / ".incoming")
    link = connect()
    association = Association.request(link, peer.called_ae, peer.calling_ae, contexts, roles)
    ours = association.accepted(1)
    if ours is None:
        association.abort()
        raise LinkError(
            Failure("service-refused", "the peer does not offer C-GET (Study Root)", False),
            link.transcript,
        )
    syntax = pdu.uid(ours.transfer_syntax or "")
    accepted = {
        c.context_id: pdu.uid(c.transfer_syntax or "")
        for c in association.contexts.values()
        if c.accepted
    }
    settings = replace(settings, max_pdu_length=OUR_MAX_PDU)  # what we announced
    receiving = Receiving(
        settings,
        sink,
        link.sock,
        AssociationRequest(
            1,
            peer.calling_ae,
            peer.called_ae,  # the instances' source, as the listener names the calling AE
            pdu.APPLICATION_CONTEXT,
            list(contexts),
            OUR_MAX_PDU,
        ),
        f"{peer.called_ae} (C-GET)",
        accepted,
    )
    message_id = association.next_message_id()
    responses = _Responses(message_id)
    receiving.exchange = responses
    final = False
    try:
        association.send_command(1, dimse.query_request(dimse.C_GET_RQ, message_id, STUDY_ROOT_GET))
        payload = encode(retrieve_identifier(study_uid, series_uid), syntax)
        association.send_dataset(1, [payload], len(payload))
        link.sock.settimeout(settings.idle_timeout)
        while not final:
            progress = _next_progress(association, receiving, responses, syntax)
            final = progress.status.category != "pending"
            yield progress
            if progress.status.failed:
                raise QueryError(f"the peer failed the retrieve: {progress.describe()}")
    except GeneratorExit:
        if not final:
            _cancel(association, receiving, responses, syntax)
            final = True
        raise
    finally:
        receiving.discard()
        if final:
            association.release()
        else:
            association.abort()


def _next_progress(
    association: Association, receiving: Receiving, responses: _Responses, syntax: str
) -> MoveProgress:
    """Read (storing what comes) until the next C-GET response; errors as LinkError."""
    try:
        while not responses.arrived:
            if not receiving.next_pdu():
                raise LinkError(
                    Failure("peer-released", "the peer ended the association mid-C-GET", True)
                )
    except PeerProtocolError as error:
        association.abort(2, error.reason)
        raise ProtocolError(str(error), error.reason) from None
    except TimeoutError as error:
        association.abort()
        text = f"no C-GET response within {receiving.settings.idle_timeout:g} s"
        raise LinkError(Failure("timeout", text, True)) from error
    except OSError as error:
        association.abort()
        raise LinkError(association.link.explain(error)) from error
    command, dataset = responses.arrived.pop(0)
    answer = status(GET, int(command.get(dimse.STATUS, 0xC000)))
    remaining, completed, failed, warning = (
        int(command.get(tag, 0))
        for tag in (dimse.REMAINING, dimse.COMPLETED, dimse.FAILED_COUNT, dimse.WARNING_COUNT)
    )
    listed: tuple[str, ...] = ()
    if dataset is not None and answer.category != "pending":
        listed = failed_instances(decode(dataset, syntax))
    return MoveProgress(answer, remaining, completed, failed, warning, listed)


def _cancel(
    association: Association, receiving: Receiving, responses: _Responses, syntax: str
) -> None:
    """C-CANCEL, then what arrives until the final response (briefly)."""
    try:
        association.send_command(1, dimse.cancel_request(responses.message_id))
        receiving.settings.idle_timeout = min(receiving.settings.idle_timeout, CANCEL_WAIT)
        while _next_progress(association, receiving, responses, syntax).status.category == (
            "pending"
        ):
            pass
    except LinkError as error:
        log.info("the peer did not answer our C-CANCEL: %s", error)
