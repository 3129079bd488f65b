"""A request our listener serves beyond C-STORE and C-ECHO, and the exchange its handler uses:
responses (command and data set) back, C-CANCEL noticed between them, sub-operation requests
sent on the same association and their responses read (C-GET).

The handler runs on the association's thread; while it waits, the association's own reader
takes the peer's PDUs and hands each complete message to the exchange.
"""

import select
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from typing import TYPE_CHECKING, Protocol

from desktop.net import acceptor, dimse
from desktop.net.pdu import file_frames, frames

if TYPE_CHECKING:
    from pydicom import Dataset

MAX_IDENTIFIER = 1 << 20  # the data set of a request or response other than C-STORE
UNLIMITED_PDU = 1 << 22  # what we send at once to a peer that sets no maximum
BATCH = 1 << 18
Command = dict[int, str | int]


class PeerProtocolError(Exception):
    """The peer broke the protocol: we send A-ABORT with ``reason`` and close."""

    def __init__(self, message: str, reason: int = acceptor.ABORT_INVALID_PARAMETER) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Request:
    """A request as received: its context, command and data set bytes."""

    context_id: int
    sop_class: str  # the abstract syntax negotiated for the context
    transfer_syntax: str
    command: Command
    identifier: bytes | None
    calling: str  # the peer's AE title
    peer: str  # host:port

    @property
    def message_id(self) -> int:
        return int(self.command.get(dimse.MESSAGE_ID, 0))

    @property
    def command_field(self) -> int:
        return int(self.command.get(dimse.COMMAND_FIELD, 0))

    def dataset(self) -> "Dataset":
        """The identifier, parsed (ProtocolError when its bytes make no data set)."""
        from desktop.net.encoding import decode

        return decode(self.identifier or b"", self.transfer_syntax)


@dataclass(frozen=True, slots=True)
class OutgoingContext:
    """A context on which we may send requests to the peer (C-GET's C-STORE sub-operations:
    the peer took the SCP role for its SOP class)."""

    context_id: int
    sop_class: str
    transfer_syntax: str


@dataclass(frozen=True, slots=True)
class Service:
    """A DIMSE service our listener provides beyond C-STORE and C-ECHO: the request it
    answers, on contexts of which SOP classes, for callers granted which permission."""

    command_field: int
    sop_classes: frozenset[str]
    permission: str  # one of desktop.core.access.PERMISSIONS
    handle: "Callable[[Exchange], None]"


class Recipient(Protocol):
    """Who gets the messages other than C-STORE and C-ECHO while a request is under way."""

    def deliver(self, context_id: int, command: Command, dataset: bytes | None) -> None: ...


Pump = Callable[[], bool]  # reads and handles one PDU; False once the association is over
Report = Callable[..., None]  # (event name, **details) into the listener's sink
#: Runs work on a thread of its own, holding no association: False when too much is already.
Later = Callable[[Callable[[], None]], bool]


def at_once(work: Callable[[], None]) -> bool:
    """A ``Later`` for an association no listener runs: the work done on this thread."""
    work()
    return True


class Exchange:
    """One request being served: respond, watch for C-CANCEL, send sub-operations."""

    def __init__(
        self,
        request: Request,
        connection: socket.socket,
        pump: Pump,
        *,
        peer_max_pdu: int,
        outgoing: list[OutgoingContext],
        report: Report,
        later: Later = at_once,
    ) -> None:
        self.request = request
        self.connection = connection
        self.pump = pump
        # A hostile 'maximum' below 7 bytes must not stall the framing: one byte per PDU.
        self.max_pdv = max(1, peer_max_pdu - 6) if peer_max_pdu else UNLIMITED_PDU
        self.outgoing = outgoing
        self.report = report
        #: Work to go on after this request without holding the association (a commitment
        #: report to a node that may never answer); False when it cannot be taken now.
        self.later = later
        self.cancelled = False
        self.responses: dict[int, tuple[Command, bytes | None]] = {}
        self._awaited: set[int] = set()
        self._message_id = 0

    # -- what the association hands us ------------------------------------------------------

    def deliver(self, context_id: int, command: Command, dataset: bytes | None) -> None:
        """A message that arrived while this exchange is active: a C-CANCEL of our request,
        or the response to one of our sub-operations; anything else breaks the protocol
        (we negotiate no asynchronous operations)."""
        field = int(command.get(dimse.COMMAND_FIELD, 0))
        responded = int(command.get(dimse.MESSAGE_ID_RESPONDED, -1))
        if field == dimse.C_CANCEL_RQ:
            if responded == self.request.message_id:
                self.cancelled = True
            return
        if field & 0x8000 and responded in self._awaited:
            self.responses[responded] = (command, dataset)
            return
        raise PeerProtocolError(
            f"command 0x{field:04X} arrived while our answer to message "
            f"{self.request.message_id} was still under way",
            acceptor.ABORT_UNEXPECTED_PDU,
        )

    # -- what the handler does ---------------------------------------------------------------

    def poll(self) -> bool:
        """Handle what the peer has sent meanwhile, without waiting; True once it asked to
        cancel this request."""
        while not self.cancelled and self._readable():
            self._pump()
        return self.cancelled

    def respond(
        self,
        status: int,
        *,
        dataset: "Dataset | bytes | None" = None,
        elements: Command | None = None,
        comment: str = "",
    ) -> None:
        """A response to the request: ``status``, extra command ``elements`` (sub-operation
        counts) and a data set (``encode``-d, or encoded here)."""
        request = self.request
        command: Command = {
            dimse.AFFECTED_SOP_CLASS: request.sop_class,
            dimse.COMMAND_FIELD: request.command_field | 0x8000,
            dimse.MESSAGE_ID_RESPONDED: request.message_id,
            dimse.DATASET_TYPE: dimse.NO_DATASET if dataset is None else dimse.DATASET_PRESENT,
            dimse.STATUS: status,
            **(elements or {}),
        }
        if comment:
            command[dimse.ERROR_COMMENT] = comment.encode("ascii", "replace").decode()[:64]
        payload = dataset if isinstance(dataset, bytes | None) else self.encode(dataset)
        self.send(request.context_id, dimse.encode_command(command), payload)

    def encode(self, dataset: "Dataset") -> bytes:
        """``dataset`` in the request's transfer syntax (pydicom's errors as they come)."""
        from desktop.net.encoding import encode

        return encode(dataset, self.request.transfer_syntax)

    def send(self, context_id: int, command: bytes, dataset: bytes | None = None) -> None:
        """A command and its data set (if any) on ``context_id``, in one write."""
        pdus = list(self._frames(context_id, [command], len(command), command=True))
        if dataset is not None:
            pdus += self._frames(context_id, [dataset], len(dataset), command=False)
        self.connection.sendall(b"".join(pdus))

    def send_file(self, context_id: int, command: bytes, handle: BufferedIOBase, size: int) -> None:
        """A command and, as its data set, the next ``size`` bytes of ``handle`` (read straight
        into PDU-framed batches, the command in the first)."""
        lead = b"".join(self._frames(context_id, [command], len(command), command=True))
        for data in file_frames(context_id, handle, size, self.max_pdv, batch=BATCH, lead=lead):
            self.connection.sendall(data)

    def next_message_id(self) -> int:
        """The message ID of a request of ours; its response is awaited from now on."""
        self._message_id = self._message_id % 0xFFFF + 1
        self._awaited.add(self._message_id)
        return self._message_id

    def response(self, message_id: int) -> tuple[Command, bytes | None]:
        """The peer's response to our request ``message_id``, waiting for it as long as the
        association's idle timeout allows each PDU."""
        while message_id not in self.responses:
            self._pump()
        self._awaited.discard(message_id)
        return self.responses.pop(message_id)

    # -- the socket --------------------------------------------------------------------------

    def _frames(
        self, context_id: int, chunks: Iterable[bytes], total: int, *, command: bool
    ) -> Iterator[bytes]:
        return frames(context_id, chunks, total, self.max_pdv, command=command, batch=BATCH)

    def _pump(self) -> None:
        if not self.pump():
            raise ConnectionError("the peer ended the association while we were answering")

    def _readable(self) -> bool:
        connection = self.connection
        if isinstance(connection, ssl.SSLSocket) and connection.pending():
            return True
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable)
