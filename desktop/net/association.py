"""A requestor's association: negotiation, DIMSE messages framed as P-DATA, release and abort.

Written for the send path's speed: data set bytes go from the file to the socket in PDUs of
the peer's maximum size, one write each, without parsing or re-encoding. Written against
hostile peers too: every PDU is bounded in size before it is read, every response must arrive
whole within the node's timeout, and anything the protocol does not allow aborts the
association with a ProtocolError in plain words.
"""

import select
import ssl
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BufferedIOBase

from desktop.net import dimse, pdu
from desktop.net.link import Failure, Link, LinkError, ProtocolError, quick_ack, tune
from desktop.net.pdu import SourceFileError as SourceFileError  # the send path's callers

OUR_MAX_PDU = 262_144  # the largest P-DATA-TF we accept (we tell the peer so)
MAX_CONTROL_PDU = 1 << 20  # any other PDU: an A-ASSOCIATE-AC of 128 contexts is ~6 KB
MAX_COMMAND = 64 * 1024  # a command set is a few hundred bytes
MAX_IDENTIFIER = 16 * 1024 * 1024  # the data set of one response (a C-FIND match)
MIN_PEER_PDU = 7  # a P-DATA-TF carrying at least one byte
DEFAULT_TIMEOUT = 60.0
UNLIMITED_PDU_CHUNK = 4 * 1024 * 1024
#: Bytes of PDUs per socket write: fewer system calls and TLS records; a file of up to 1 MB
#: (a CT slice: 0.5 MB) leaves in one write with its command.
BATCH = 1 << 20
#: Explicit and implicit VR little endian (as strings: echo starts without loading pydicom).
UNCOMPRESSED_SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


@dataclass(frozen=True, slots=True)
class Message:
    """A received DIMSE message: its context, command and data set bytes (if it has one)."""

    context_id: int
    command: dict[int, str | int]
    dataset: bytes | None = None

    @property
    def status(self) -> int:
        return int(self.command[dimse.STATUS])


class Association:
    """An association as the requestor. Every failure raises LinkError (ProtocolError when
    the peer broke the protocol) after the association was aborted or closed."""

    def __init__(self, link: Link, proposed: list[pdu.ProposedContext]) -> None:
        self.link = link
        self.proposed = {c.context_id: c for c in proposed}
        self.contexts: dict[int, pdu.ContextResult] = {}
        self.timeout = link.sock.gettimeout() or DEFAULT_TIMEOUT
        self.max_pdv_data = UNLIMITED_PDU_CHUNK
        self.roles: dict[str, tuple[int, int]] = {}  # SOP class → roles the peer accepted
        self._message_id = 0
        self._spare: bytearray | None = None  # a file's framing buffer, sent: the next's

    @classmethod
    def request(
        cls,
        link: Link,
        called: str,
        calling: str,
        contexts: list[pdu.ProposedContext],
        roles: tuple[pdu.RoleSelection, ...] = (),
    ) -> "Association":
        """Send the A-ASSOCIATE-RQ (with ``roles`` proposed) and wait for the peer's answer."""
        association = cls(link, contexts)
        with association._guard():
            tune(link.sock)
            association._write(pdu.associate_request(called, calling, contexts, OUR_MAX_PDU, roles))
            answer = association._read_pdu(time.monotonic() + association.timeout)
            if isinstance(answer, pdu.Associate) and answer.kind == pdu.A_ASSOCIATE_AC:
                association._accept(answer)
                return association
            if isinstance(answer, pdu.Rejection):
                raise LinkError(
                    Failure("association-rejected", answer.describe(), answer.transient)
                )
            raise _unexpected(answer, "the answer to our association request")

    def _accept(self, answer: pdu.Associate) -> None:
        """Keep the contexts' fate, checked against what we proposed."""
        if any(isinstance(item, pdu.ProposedContext) for item in answer.items):
            raise ProtocolError(
                "the A-ASSOCIATE-AC holds a proposal (item 0x20) instead of a result",
                pdu.UNEXPECTED_PARAMETER,
            )
        for result in answer.results:
            proposed = self.proposed.get(result.context_id)
            if proposed is None or result.context_id in self.contexts:
                raise ProtocolError(
                    f"the A-ASSOCIATE-AC answers presentation context {result.context_id} "
                    + ("twice" if proposed else "that we did not propose"),
                    pdu.INVALID_PARAMETER,
                )
            syntax = pdu.uid(result.transfer_syntax or "")
            if result.accepted and syntax not in proposed.transfer_syntaxes:
                raise ProtocolError(
                    f"the A-ASSOCIATE-AC accepts presentation context {result.context_id} with "
                    f"transfer syntax {syntax!r}, which we did not propose for it",
                    pdu.INVALID_PARAMETER,
                )
            self.contexts[result.context_id] = pdu.ContextResult(
                result.context_id, result.result, syntax
            )
        peer_max = answer.max_pdu_length
        if 0 < peer_max < MIN_PEER_PDU:
            raise ProtocolError(
                f"its maximum PDU length of {peer_max} bytes cannot carry any data",
                pdu.INVALID_PARAMETER,
            )
        if peer_max:
            self.max_pdv_data = peer_max - 6
        self.roles = {
            item.sop_class: (item.scu, item.scp)
            for item in answer.user_information.sub_items
            if isinstance(item, pdu.RoleSelection)
        }

    def accepted(self, context_id: int) -> pdu.ContextResult | None:
        result = self.contexts.get(context_id)
        return result if result is not None and result.accepted else None

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def send_message(self, context_id: int, command: bytes, dataset: bytes) -> None:
        """Send ``command`` and its data set, both in memory, the command in the data set's
        first write (one write, one wake-up of the peer, not two)."""
        limit = self.max_pdv_data
        with self._guard():
            for data in pdu.message_frames(context_id, command, dataset, limit, batch=BATCH):
                self._write(data)

    def send_command(self, context_id: int, command: bytes) -> None:
        self._send(context_id, [command], len(command), command=True)

    def send_dataset(self, context_id: int, chunks: Iterable[bytes], total: int) -> None:
        """Send ``total`` bytes of data set, given in chunks of any size, as P-DATA PDUs."""
        self._send(context_id, chunks, total, command=False)

    def _send(self, context_id: int, chunks: Iterable[bytes], total: int, command: bool) -> None:
        """Frame the bytes into PDVs of at most the peer's size (the one ending at ``total``
        flagged last), handing the socket about BATCH bytes of PDUs per write."""
        limit = self.max_pdv_data
        with self._guard():
            for data in pdu.frames(context_id, chunks, total, limit, command=command, batch=BATCH):
                self._write(data)

    def send_file(
        self,
        context_id: int,
        command: bytes,
        handle: BufferedIOBase,
        size: int,
        *,
        digest: "pdu.Hash | None" = None,
        before_last: Callable[[], None] | None = None,
    ) -> None:
        """Send ``command`` and, as its data set, the next ``size`` bytes of ``handle``: read
        straight into PDU-framed batches (one copy on the way to the socket, not four), the
        command in the first (one write, one wake-up of the peer, not two). The bytes read
        update ``digest``; ``before_last`` may refuse (raise) before the last batch leaves
        (see pdu.file_frames)."""
        frames = self._file_frames(context_id, command, handle, size, digest, before_last)
        with self._guard():
            for data in frames:
                self._write(data)
                self._keep(data)

    def frame_file(
        self,
        context_id: int,
        command: bytes,
        handle: BufferedIOBase,
        size: int,
        *,
        digest: "pdu.Hash | None" = None,
        before_last: Callable[[], None] | None = None,
    ) -> memoryview:
        """``send_file``'s one write (for a data set that ``one_write`` says fits), read and
        framed now for ``send_framed`` to send later, while the peer still works on the
        message before. ``before_last`` runs once all is read."""
        [framed] = self._file_frames(context_id, command, handle, size, digest, before_last)
        return framed

    def one_write(self, size: int) -> bool:
        """Whether a data set of ``size`` bytes leaves in one write with its command."""
        limit = self.max_pdv_data
        return -(-size // limit) <= max(1, BATCH // (limit + pdu.PDV_HEADER))

    def _file_frames(
        self,
        context_id: int,
        command: bytes,
        handle: BufferedIOBase,
        size: int,
        digest: "pdu.Hash | None",
        before_last: Callable[[], None] | None,
    ) -> Iterator[memoryview]:
        """The command then ``size`` bytes of ``handle`` as PDU-framed batches to write (in
        the buffer of the file sent before, when there is one)."""
        spare, self._spare = self._spare, None
        return pdu.file_frames(
            context_id,
            handle,
            size,
            self.max_pdv_data,
            batch=BATCH,
            lead=self._command_frames(context_id, command),
            digest=digest,
            before_last=before_last,
            spare=spare,
        )

    def _command_frames(self, context_id: int, command: bytes) -> bytes:
        limit = self.max_pdv_data
        return b"".join(
            pdu.frames(context_id, [command], len(command), limit, command=True, batch=BATCH)
        )

    def send_framed(self, framed: memoryview) -> None:
        """Send what ``frame_file`` framed (its buffer then frames the next file)."""
        with self._guard():
            self._write(framed)
        self._keep(framed)

    def _keep(self, sent: memoryview) -> None:
        """The buffer of what was just sent frames the next file."""
        if isinstance(sent.obj, bytearray):
            self._spare = sent.obj

    def response(
        self,
        context_id: int,
        message_id: int,
        request: int,
        *,
        instance: str = "",
        limit: int = MAX_IDENTIFIER,
    ) -> Message:
        """The peer's response to our request ``request`` (a command field) with
        ``message_id`` on ``context_id`` (about SOP instance ``instance``, when given),
        checked: a response of another kind, to another message, on another context, about
        another instance, or without a status, is a protocol error."""
        with self._guard():
            message = self._receive(time.monotonic() + self.timeout, limit)
            command = message.command
            service = dimse.SERVICES[request]
            field = command.get(dimse.COMMAND_FIELD)
            if field != dimse.RESPONSES[request]:
                raise ProtocolError(
                    f"a message with command field {_hex(field)} answered our {service} request",
                    pdu.INVALID_PARAMETER,
                )
            responded = command.get(dimse.MESSAGE_ID_RESPONDED)
            if responded != message_id:
                raise ProtocolError(
                    f"the {service} response is for message {responded}, not for our "
                    f"message {message_id}",
                    pdu.INVALID_PARAMETER,
                )
            if message.context_id != context_id:
                raise ProtocolError(
                    f"the {service} response came on presentation context "
                    f"{message.context_id}, our request on {context_id}",
                    pdu.INVALID_PARAMETER,
                )
            about = command.get(dimse.AFFECTED_SOP_INSTANCE)
            if instance and about and about != instance:
                raise ProtocolError(
                    f"the {service} response is about instance {about}, not {instance}",
                    pdu.INVALID_PARAMETER,
                )
            if not isinstance(command.get(dimse.STATUS), int):
                raise ProtocolError(f"the {service} response has no status", pdu.INVALID_PARAMETER)
            return message

    def request_message(self, end: float, limit: int = MAX_IDENTIFIER) -> Message:
        """The peer's next message (a request of its own, such as an N-EVENT-REPORT), all of
        it before ``end``; LinkError when the association ends instead."""
        with self._guard():
            return self._receive(end, limit)

    def readable(self, seconds: float) -> bool:
        """Whether the peer sent something within ``seconds`` (without reading it)."""
        sock = self.link.sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            ready, _, _ = select.select([sock], [], [], max(seconds, 0.0))
        except (OSError, ValueError):  # closed meanwhile: the next read says how
            return True
        return bool(ready)

    def _receive(self, end: float, limit: int) -> Message:
        """The next complete DIMSE message, all of it before ``end``."""
        command: dict[int, str | int] | None = None
        fragments: list[bytes] = []
        context_id, size = 0, 0
        while True:
            unit = self._read_pdu(end)
            if isinstance(unit, pdu.Release) and unit.kind == pdu.A_RELEASE_RQ:
                self._write(pdu.Release(pdu.A_RELEASE_RP).encode())
                text = "the peer released the association without answering"
                raise LinkError(Failure("peer-released", text, True))
            if not isinstance(unit, pdu.PData):
                raise _unexpected(unit, "a response")
            for position, pdv in enumerate(unit.pdvs):
                context_id = self._check_pdv(pdv, context_id, expect_command=command is None)
                size += len(pdv.data)
                bound = MAX_COMMAND if command is None else limit
                if size > bound:
                    part = "command set" if command is None else "data set"
                    raise ProtocolError(
                        f"the response's {part} runs past {bound:,} bytes", pdu.INVALID_PARAMETER
                    )
                fragments.append(pdv.data)
                if not pdv.last:
                    continue
                data, fragments, size = b"".join(fragments), [], 0
                message = None
                if command is None:
                    command = dimse.decode_command(data)
                    kind = command.get(dimse.DATASET_TYPE)
                    if not isinstance(kind, int):
                        raise ProtocolError(
                            "the response has no Command Data Set Type", pdu.INVALID_PARAMETER
                        )
                    if kind == dimse.NO_DATASET:
                        message = Message(context_id, command)
                else:
                    message = Message(context_id, command, data)
                if message is not None:
                    if position != len(unit.pdvs) - 1:
                        raise ProtocolError(
                            "fragments follow a complete response in the same P-DATA-TF",
                            pdu.UNEXPECTED_PDU,
                        )
                    return message

    def _check_pdv(self, pdv: pdu.Pdv, context_id: int, expect_command: bool) -> int:
        if self.accepted(pdv.context_id) is None:
            raise ProtocolError(
                f"a fragment came on presentation context {pdv.context_id}, which is not an "
                "accepted one",
                pdu.INVALID_PARAMETER,
            )
        if context_id and pdv.context_id != context_id:
            raise ProtocolError(
                "the fragments of one response came on two presentation contexts",
                pdu.INVALID_PARAMETER,
            )
        if pdv.command != expect_command:
            raise ProtocolError(
                "a command fragment came where the data set was expected"
                if pdv.command
                else "a data set fragment came before the command was complete",
                pdu.INVALID_PARAMETER,
            )
        return pdv.context_id

    @property
    def closed(self) -> bool:
        return self.link.sock.fileno() == -1

    def release(self) -> None:
        """Release politely (answering the peer's own A-RELEASE-RQ if they cross); a peer
        that just closes is fine too."""
        if self.closed:
            return
        try:
            self._write(pdu.Release(pdu.A_RELEASE_RQ).encode())
            end = time.monotonic() + self.timeout
            while True:
                unit = self._read_pdu(end)
                if unit.kind == pdu.A_RELEASE_RP:
                    break
                if unit.kind == pdu.A_RELEASE_RQ:  # a release collision (PS3.8 9.2.2)
                    self._write(pdu.Release(pdu.A_RELEASE_RP).encode())
                elif not isinstance(unit, pdu.PData):  # late data is dropped
                    raise _unexpected(unit, "the release")
        except ProtocolError as error:
            self.abort(2, error.reason)
        except TimeoutError:
            self.abort()
        except (OSError, LinkError):  # the peer closed or aborted: nothing more to say
            pass
        finally:
            self.link.sock.close()

    def abort(self, source: int = 0, reason: int = 0) -> None:
        if self.closed:
            return
        try:
            self.link.sock.settimeout(min(self.timeout, 2.0))
            self.link.sock.sendall(pdu.Abort(source, reason).encode())
        except OSError:
            pass
        finally:
            self.link.sock.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Every way an exchange fails, as a LinkError, the association aborted or closed."""
        try:
            yield
        except ProtocolError as error:
            self.abort(2, error.reason)
            error.transcript = self.link.transcript
            raise
        except LinkError as error:
            self.link.sock.close()
            error.transcript = self.link.transcript
            raise
        except TimeoutError as error:
            self.abort()
            text = f"no complete answer within {self.timeout:g} s (the node's network timeout)"
            raise LinkError(Failure("timeout", text, True), self.link.transcript) from error
        except OSError as error:
            self.link.sock.close()
            raise LinkError(self.link.explain(error), self.link.transcript) from error

    def _write(self, data: bytes | memoryview) -> None:
        self.link.sock.settimeout(self.timeout)
        self.link.sock.sendall(data)

    def _read_pdu(self, end: float) -> pdu.Pdu:
        """The next PDU, refused before it is read when larger than we accept."""
        header = self._read_exact(6, end)
        kind, length = header[0], struct.unpack_from(">I", header, 2)[0]
        name = pdu.PDU_NAMES.get(kind)
        if name is None:
            raise ProtocolError(f"unknown PDU type 0x{kind:02X}", pdu.UNRECOGNISED_PDU)
        limit = OUR_MAX_PDU if kind == pdu.P_DATA_TF else MAX_CONTROL_PDU
        if length > limit:
            raise ProtocolError(
                f"it announced a {length:,}-byte {name}, more than the {limit:,} bytes we accept",
                pdu.INVALID_PARAMETER,
            )
        unit = pdu.decode(kind, self._read_exact(length, end))
        if isinstance(unit, pdu.Abort):
            raise LinkError(Failure("association-aborted", unit.describe(), True))
        return unit

    def _read_exact(self, count: int, end: float) -> bytes:
        """``count`` bytes, all of them before ``end`` (one byte every few seconds is no
        reprieve)."""
        chunks, remaining, sock = [], count, self.link.sock
        while remaining:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed")
            sock.settimeout(left)
            quick_ack(sock)
            chunk = sock.recv(min(remaining, 1 << 20))
            if not chunk:
                raise ConnectionResetError("the peer closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


def _hex(value: object) -> str:
    return f"0x{value:04X}" if isinstance(value, int) else "(none)"


def _unexpected(unit: pdu.Pdu, during: str) -> ProtocolError:
    return ProtocolError(
        f"an unexpected {pdu.PDU_NAMES[unit.kind]} came as {during}", pdu.UNEXPECTED_PDU
    )


def open_service(
    link: Link, called: str, calling: str, sop_class: str, service: str
) -> tuple[Association, str]:
    """An association with one context (``sop_class``, uncompressed) that the peer accepted,
    and the transfer syntax it chose; LinkError when it refuses the service."""
    association = Association.request(
        link, called, calling, [pdu.ProposedContext(1, sop_class, UNCOMPRESSED_SYNTAXES)]
    )
    result = association.accepted(1)
    if result is None:
        association.abort()
        raise LinkError(
            Failure("service-refused", f"the peer does not offer {service}", False), link.transcript
        )
    return association, pdu.uid(result.transfer_syntax or "")
