"""One negotiated association of our listener: P-DATA in, C-ECHO and C-STORE answered, other
requests handed to their service (``exchange.Service``).

Data set fragments go from the socket straight into a file under ``OUT/.incoming`` (memory: one
PDU); the file is checked (``intake``), then linked into place without ever replacing another
instance, and only then answered Success. Every failure path removes the incoming file. The
data set of any other message is collected in memory, up to ``exchange.MAX_IDENTIFIER``.
"""

import logging
import os
import secrets
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.core.access import STORE
from desktop.core.files import PRIVATE, mark_in_use, private_folder
from desktop.core.filing import file_into_place, stored_path
from desktop.net import acceptor, dimse
from desktop.net.acceptor import AssociationRequest
from desktop.net.catalogue import VERIFICATION
from desktop.net.exchange import (
    MAX_IDENTIFIER,
    Command,
    Exchange,
    Later,
    OutgoingContext,
    PeerProtocolError,
    Recipient,
    Request,
    Service,
    at_once,
)
from desktop.net.intake import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, IntakeError, check
from desktop.net.link import quick_ack
from desktop.net.pdu import (
    A_ABORT,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    P_DATA_TF,
    Release,
    pdv_header,
)

log = logging.getLogger(__name__)

SUCCESS = 0x0000
NOT_AUTHORISED = 0x0124  # PS3.7 C.5: refused, not authorised
MAX_COMMAND = 1 << 16
Sink = Callable[[dict[str, Any]], None]
Services = dict[tuple[int, str], Service]  # (request command field, SOP class) → service


@dataclass(slots=True)
class ListenerSettings:
    ae_title: str = "COURIER"
    host: str = "127.0.0.1"
    port: int = 11113
    out: Path = Path("inbox")
    # Calling AE titles allowed and what they may do (desktop.core.access: "AE",
    # "AE=SHA256" to bind it to a client certificate, "/store,query,retrieve"); empty: anyone.
    allowed_calling: list[str] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = None  # the context the TLS acceptor uses
    accept_private: bool = False  # accept non-standard (private) SOP classes
    request_timeout: float = 5.0  # from accept to a complete A-ASSOCIATE-RQ, TLS included
    idle_timeout: float = 60.0  # silence tolerated inside an association
    max_associations: int = 16
    max_pending: int = 64  # connections not yet associated
    max_pending_per_host: int = 8  # ... from one address
    max_pdu_length: int = 1 << 17  # what we announce: the memory one association reads into
    max_inflated: int = 512 << 20  # a deflated data set may inflate to this much
    fsync: bool = True  # data on disk before Success


def file_meta(sop_class: str, sop_instance: str, syntax: str, source: str) -> bytes:
    """Preamble, prefix and File Meta Information (PS3.10 7.1) for a received data set."""

    def element(element_number: int, vr: bytes, value: bytes) -> bytes:
        if vr == b"OB":
            return struct.pack("<HH2s2xI", 2, element_number, vr, len(value)) + value
        return struct.pack("<HH2sH", 2, element_number, vr, len(value)) + value

    def text(value: str, pad: bytes) -> bytes:
        raw = value.encode("ascii", "replace")
        return raw + pad if len(raw) % 2 else raw

    body = (
        element(0x0001, b"OB", b"\x00\x01")
        + element(0x0002, b"UI", text(sop_class, b"\0"))
        + element(0x0003, b"UI", text(sop_instance, b"\0"))
        + element(0x0010, b"UI", text(syntax, b"\0"))
        + element(0x0012, b"UI", text(IMPLEMENTATION_CLASS_UID, b"\0"))
        + element(0x0013, b"SH", text(IMPLEMENTATION_VERSION, b" "))
        + (element(0x0016, b"AE", text(source, b" ")) if source else b"")
    )
    return bytes(128) + b"DICM" + element(0x0000, b"UL", struct.pack("<I", len(body))) + body


@dataclass(slots=True)
class Incoming:
    """A data set being received: its command and (unless already refused) its file."""

    context_id: int
    message_id: int
    sop_class: str
    sop_instance: str
    syntax: str
    dataset_offset: int
    path: Path | None
    descriptor: int
    size: int = 0  # bytes written so far
    refused: IntakeError | None = None


@dataclass(slots=True)
class Collecting:
    """A message other than C-STORE whose data set is arriving (held in memory)."""

    context_id: int
    command: Command
    data: bytearray = field(default_factory=bytearray)


class Association:
    """One negotiated association: P-DATA in, C-ECHO and C-STORE answered, other requests
    served by their service, until release."""

    def __init__(
        self,
        settings: ListenerSettings,
        sink: Sink,
        connection: socket.socket,
        request: AssociationRequest,
        peer: str,
        accepted: dict[int, str],
        *,
        services: Services | None = None,
        permitted: frozenset[str] = frozenset({STORE}),
        recipient: Recipient | None = None,
        later: Later = at_once,
    ) -> None:
        self.settings = settings
        self.later = later
        self.sink = sink
        self.connection = connection
        self.request = request
        self.peer = peer
        self.accepted = accepted
        self.abstract = {p.context_id: p.abstract_syntax for p in request.proposals}
        self.view = memoryview(bytearray(self.settings.max_pdu_length))  # one PDU at a time
        self.header = memoryview(bytearray(6))
        self.deadline = 0.0
        self.command = bytearray()
        self.incoming: Incoming | None = None
        self.folders: set[Path] = set()  # inbox folders known to exist
        self.token, self.received = secrets.token_hex(8), 0  # names of incoming files
        self.services = services or {}
        self.permitted = permitted
        self.collecting: Collecting | None = None
        self.ready: tuple[Service, Request] | None = None  # served once its PDU is handled
        self.exchange: Recipient | None = recipient  # gets the messages while it is set

    def run(self) -> None:
        self.connection.settimeout(self.settings.idle_timeout)
        try:
            while self.next_pdu():
                if self.ready is not None:
                    self._serve(*self.ready)
        except PeerProtocolError as error:
            self._event("association-aborted", reason=f"we aborted: {error}")
            send(self.connection, acceptor.provider_abort(error.reason))
        except TimeoutError:
            self._event(
                "association-aborted",
                reason=f"no complete PDU within {self.settings.idle_timeout:g} s: we aborted",
            )
            send(self.connection, acceptor.provider_abort(acceptor.ABORT_NOT_SPECIFIED))
        except (OSError, ConnectionError) as error:
            self._event("association-aborted", reason=f"connection lost: {error}")
        except Exception as error:  # a bug of ours: this association ends, the listener lives
            log.exception("association with %s failed", self.peer)
            self._event("association-aborted", reason=f"internal error: {error!r}")
            send(self.connection, acceptor.provider_abort(acceptor.ABORT_NOT_SPECIFIED))
        finally:
            self.discard()

    def _event(self, name: str, **details: Any) -> None:
        self.sink({"event": name, "calling": self.request.calling, "peer": self.peer, **details})

    def next_pdu(self) -> bool:
        """Read and handle one PDU; False once the association is over."""
        self.deadline = time.monotonic() + self.settings.idle_timeout
        self._fill(self.header)
        kind, length = self.header[0], struct.unpack_from(">I", self.header, 2)[0]
        if kind == P_DATA_TF:
            if length > self.settings.max_pdu_length:
                raise PeerProtocolError(
                    f"a P-DATA-TF PDU of {length} bytes, above the "
                    f"{self.settings.max_pdu_length} we announced"
                )
            view = self.view[:length]
            self._fill(view)
            self._pdata(view)
            return True
        if kind == A_RELEASE_RQ:
            self._fill(self.view[: min(length, 4)])
            send(self.connection, Release(A_RELEASE_RP).encode())
            return False
        if kind == A_ABORT:
            self._event("association-aborted", reason="the peer aborted")
            return False
        raise PeerProtocolError(f"unexpected PDU type 0x{kind:02X}", acceptor.ABORT_UNEXPECTED_PDU)

    def _fill(self, view: memoryview) -> None:
        """Fill ``view`` from the socket; a PDU must arrive within the idle timeout as a whole
        (a byte now and then cannot hold the association open)."""
        filled = 0
        while filled < len(view):
            quick_ack(self.connection)  # Linux would delay the ACK; the sender waits for it
            count = self.connection.recv_into(view[filled:])
            if not count:
                raise ConnectionError("the peer closed the connection")
            filled += count
            if time.monotonic() > self.deadline:
                raise TimeoutError("PDU too slow")

    def _pdata(self, body: memoryview) -> None:
        position = 0
        while position < len(body):
            if position + 6 > len(body):
                raise PeerProtocolError("a PDV item header is cut short")
            size = struct.unpack_from(">I", body, position)[0]
            if size < 2 or position + 4 + size > len(body):
                raise PeerProtocolError(f"a PDV item claims {size} bytes, more than its PDU holds")
            context_id, control = body[position + 4], body[position + 5]
            if context_id not in self.accepted:
                raise PeerProtocolError(f"a PDV on presentation context {context_id}, not accepted")
            fragment = body[position + 6 : position + 4 + size]
            if control & 1:
                self._command_fragment(context_id, fragment, last=bool(control & 2))
            else:
                self._dataset_fragment(context_id, fragment, last=bool(control & 2))
            position += 4 + size

    def _command_fragment(self, context_id: int, fragment: memoryview, *, last: bool) -> None:
        if self.incoming is not None or self.collecting is not None:
            raise PeerProtocolError("a command arrived before the previous data set ended")
        self.command += fragment
        if len(self.command) > MAX_COMMAND:
            raise PeerProtocolError("a command set longer than 64 KB")
        if not last:
            return
        try:
            command = dimse.decode_command(bytes(self.command))
            field_ = command.get(dimse.COMMAND_FIELD)
            message_id = int(command.get(dimse.MESSAGE_ID, 0))
        except (struct.error, ValueError) as error:
            raise PeerProtocolError(f"a command set that cannot be decoded ({error})") from None
        self.command.clear()
        if field_ == dimse.C_STORE_RQ:
            self._begin_store(context_id, command, message_id)
        elif field_ == dimse.C_ECHO_RQ:
            self._respond(context_id, dimse.C_ECHO_RSP, message_id, VERIFICATION, "", SUCCESS)
        elif command.get(dimse.DATASET_TYPE) == dimse.NO_DATASET:
            self._message(context_id, command, None)
        else:
            self.collecting = Collecting(context_id, command)

    def _collect(self, context_id: int, fragment: memoryview, *, last: bool) -> None:
        collecting = self.collecting
        if collecting is None or collecting.context_id != context_id:
            raise PeerProtocolError("data set fragment without a command on its context")
        collecting.data += fragment
        if len(collecting.data) > MAX_IDENTIFIER:
            raise PeerProtocolError(
                f"a data set of more than {MAX_IDENTIFIER:,} bytes with a command other than "
                "C-STORE"
            )
        if last:
            self.collecting = None
            self._message(context_id, collecting.command, bytes(collecting.data))

    def _message(self, context_id: int, command: Command, dataset: bytes | None) -> None:
        """A complete message other than C-STORE and C-ECHO: for the exchange under way, or a
        request for its service (served once the PDU that completed it is handled)."""
        if self.exchange is not None:
            self.exchange.deliver(context_id, command, dataset)
            return
        field_ = int(command.get(dimse.COMMAND_FIELD, 0))
        if field_ == dimse.C_CANCEL_RQ:
            return  # for a request already answered: nothing to cancel
        sop_class = self.abstract[context_id]
        service = self.services.get((field_, sop_class))
        if service is None:
            raise PeerProtocolError(
                f"command 0x{field_:04X} on a context for {sop_class}: not a service we "
                "provide there",
                acceptor.ABORT_UNEXPECTED_PDU,
            )
        request = Request(
            context_id,
            sop_class,
            self.accepted[context_id],
            command,
            dataset,
            self.request.calling,
            self.peer,
        )
        self.ready = service, request

    def _serve(self, service: Service, request: Request) -> None:
        self.ready = None
        exchange = Exchange(
            request,
            self.connection,
            self.next_pdu,
            peer_max_pdu=self.request.max_pdu_length,
            outgoing=self._outgoing(),
            report=self._event,
            later=self.later,
        )
        if service.permission not in self.permitted:
            self._event(
                "access-refused",
                service=service.permission,
                reason=f"{self.request.calling!r} may not {service.permission} here",
            )
            exchange.respond(NOT_AUTHORISED, comment=f"not authorised to {service.permission}")
            return
        self.exchange = exchange
        try:
            service.handle(exchange)
        finally:
            self.exchange = None

    def _outgoing(self) -> list[OutgoingContext]:
        """The accepted contexts on which the peer took the SCP role (C-GET's sub-operations)."""
        return [
            OutgoingContext(context_id, self.abstract[context_id], syntax)
            for context_id, syntax in self.accepted.items()
            if self.request.may_act_as_scp(self.abstract[context_id])
        ]

    def _begin_store(self, context_id: int, command: dict[int, str | int], message_id: int) -> None:
        sop_class = str(command.get(dimse.AFFECTED_SOP_CLASS, ""))
        sop_instance = str(command.get(dimse.AFFECTED_SOP_INSTANCE, ""))
        if command.get(dimse.DATASET_TYPE) == dimse.NO_DATASET:
            self._refuse_now(
                context_id,
                message_id,
                sop_class,
                sop_instance,
                IntakeError(CANNOT_UNDERSTAND, "the C-STORE request carries no data set"),
            )
            return
        syntax = self.accepted[context_id]
        head = file_meta(sop_class, sop_instance, syntax, self.request.calling)
        self.incoming = Incoming(
            context_id, message_id, sop_class, sop_instance, syntax, len(head), None, -1
        )
        if STORE not in self.permitted:
            reason = f"{self.request.calling!r} may not store here"
            self._event("access-refused", service=STORE, reason=reason)
            self.incoming.refused = IntakeError(NOT_AUTHORISED, reason)
            return
        if sop_class != self.abstract[context_id]:
            self.incoming.refused = IntakeError(
                CANNOT_UNDERSTAND,
                f"SOP class {sop_class} sent on the context negotiated for "
                f"{self.abstract[context_id]}",
            )
            return
        try:
            self.received += 1
            path = self.settings.out / ".incoming" / f"{self.token}-{self.received}.dcm"
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            self.incoming.descriptor = os.open(path, flags, PRIVATE)  # patients' data: 0600
            mark_in_use(self.incoming.descriptor)  # not swept by another listener's start
            self.incoming.path = path
            self._write(head)
        except OSError as error:
            self._fail_write(error)

    def _write(self, data: bytes | memoryview) -> None:
        incoming = self.incoming
        assert incoming is not None
        while data:
            written = os.write(incoming.descriptor, data)
            incoming.size += written
            data = data[written:]

    def _fail_write(self, error: OSError) -> None:
        assert self.incoming is not None
        self._close_file(remove=True)
        self.incoming.refused = IntakeError(
            OUT_OF_RESOURCES, f"cannot write to the inbox: {error.strerror or error}"
        )

    def _dataset_fragment(self, context_id: int, fragment: memoryview, *, last: bool) -> None:
        incoming = self.incoming
        if incoming is None or incoming.context_id != context_id:
            self._collect(context_id, fragment, last=last)
            return
        if incoming.refused is None:
            try:
                self._write(fragment)
            except OSError as error:
                self._fail_write(error)
        if last:
            self._finish_store()

    def _finish_store(self) -> None:
        incoming = self.incoming
        assert incoming is not None
        status, reason = SUCCESS, ""
        try:
            if incoming.refused is not None:
                raise incoming.refused
            assert incoming.path is not None
            if self.settings.fsync:
                os.fsync(incoming.descriptor)
            received = check(
                incoming.descriptor,
                incoming.size,
                dataset_offset=incoming.dataset_offset,
                syntax=incoming.syntax,
                sop_class=incoming.sop_class,
                sop_instance=incoming.sop_instance,
                max_inflated=self.settings.max_inflated,
            )
            target = stored_path(
                self.settings.out,
                received.patient_id,
                received.study,
                received.series,
                received.sop_instance,
            )
            if target.parent not in self.folders:
                private_folder(target.parent)
                self.folders.add(target.parent)
            final, duplicate = file_into_place(incoming.path, target)
            self._event(
                "stored",
                path=str(final),
                sop_instance_uid=incoming.sop_instance,
                size=incoming.size,
                duplicate=duplicate,
            )
        except IntakeError as refused:
            status, reason = refused.status, refused.reason
        except OSError as error:
            status, reason = OUT_OF_RESOURCES, f"cannot file the instance: {error}"
        finally:
            self._close_file(remove=True)
            self.incoming = None
        if status != SUCCESS:
            log.warning("refused %s from %s: %s", incoming.sop_instance, self.peer, reason)
            self._event(
                "store-failed",
                sop_instance_uid=incoming.sop_instance,
                status=status,
                error=reason,
            )
        self._respond(
            incoming.context_id,
            dimse.C_STORE_RSP,
            incoming.message_id,
            incoming.sop_class,
            incoming.sop_instance,
            status,
            reason,
        )

    def _refuse_now(
        self,
        context_id: int,
        message_id: int,
        sop_class: str,
        sop_instance: str,
        refused: IntakeError,
    ) -> None:
        self._event(
            "store-failed",
            sop_instance_uid=sop_instance,
            status=refused.status,
            error=refused.reason,
        )
        self._respond(
            context_id,
            dimse.C_STORE_RSP,
            message_id,
            sop_class,
            sop_instance,
            refused.status,
            refused.reason,
        )

    def _respond(
        self,
        context_id: int,
        command_field: int,
        message_id: int,
        sop_class: str,
        sop_instance: str,
        status: int,
        comment: str = "",
    ) -> None:
        elements: dict[int, str | int] = {
            dimse.AFFECTED_SOP_CLASS: sop_class,
            dimse.COMMAND_FIELD: command_field,
            dimse.MESSAGE_ID_RESPONDED: message_id,
            dimse.DATASET_TYPE: dimse.NO_DATASET,
            dimse.STATUS: status,
        }
        if sop_instance:
            elements[dimse.AFFECTED_SOP_INSTANCE] = sop_instance
        if comment:
            elements[dimse.ERROR_COMMENT] = comment.encode("ascii", "replace").decode()[:64]
        encoded = dimse.encode_command(elements)
        send(self.connection, pdv_header(len(encoded), context_id, True, True) + encoded)

    def _close_file(self, *, remove: bool) -> None:
        incoming = self.incoming
        if incoming is None:
            return
        if incoming.descriptor >= 0:
            os.close(incoming.descriptor)
            incoming.descriptor = -1
        if remove and incoming.path is not None:
            incoming.path.unlink(missing_ok=True)
            incoming.path = None

    def discard(self) -> None:
        """The association ended mid-data-set: nothing of it stays in ``.incoming``."""
        self._close_file(remove=True)
        self.incoming = None


def recv_exact(connection: socket.socket, count: int, deadline: float | None = None) -> bytes:
    buffer = bytearray(count)
    recv_into(connection, memoryview(buffer), deadline)
    return bytes(buffer)


def recv_into(connection: socket.socket, view: memoryview, deadline: float | None = None) -> None:
    """Fill ``view`` from the socket; with a deadline the whole read must finish by then
    (one byte every few seconds cannot hold the connection open)."""
    filled = 0
    while filled < len(view):
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline passed")
            connection.settimeout(remaining)
        count = connection.recv_into(view[filled:])
        if not count:
            raise ConnectionError("the peer closed the connection")
        filled += count


def send(connection: socket.socket, data: bytes) -> None:
    try:
        connection.sendall(data)
    except OSError as error:
        log.info("could not send to the peer: %s", error)
