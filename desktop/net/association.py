"""A requestor's association: negotiation, DIMSE messages framed as P-DATA, release and abort.

Written for the send path's speed: data set bytes go from the file to the socket in PDUs of
the peer's maximum size, one write each, without parsing or re-encoding.
"""

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from desktop.net import pdu
from desktop.net.dimse import DATASET_TYPE, NO_DATASET, decode_command
from desktop.net.link import Failure, Link, LinkError, quick_ack, tune

OUR_MAX_PDU = 262_144
UNLIMITED_PDU_CHUNK = 4 * 1024 * 1024
BATCH = 256 * 1024  # bytes of PDUs per socket write: fewer system calls and TLS records


@dataclass(frozen=True, slots=True)
class Message:
    """A received DIMSE message: its context, command and data set bytes (if it has one)."""

    context_id: int
    command: dict[int, str | int]
    dataset: bytes | None = None


class Association:
    """An established association as the requestor."""

    def __init__(self, link: Link, acceptance: pdu.Acceptance) -> None:
        self.link = link
        self.acceptance = acceptance
        peer_max = acceptance.max_pdu_length
        self.max_pdv_data = peer_max - 6 if peer_max > 6 else UNLIMITED_PDU_CHUNK
        self._message_id = 0

    @classmethod
    def request(
        cls, link: Link, called: str, calling: str, contexts: list[pdu.ProposedContext]
    ) -> "Association":
        """Send the A-ASSOCIATE-RQ and wait for the peer's answer."""
        tune(link.sock)
        try:
            link.sock.sendall(pdu.associate_request(called, calling, contexts, OUR_MAX_PDU))
            kind, body = _read_pdu(link)
        except OSError as error:
            link.sock.close()
            raise LinkError(link.explain(error), link.transcript) from error
        if kind == pdu.A_ASSOCIATE_AC:
            return cls(link, pdu.parse_acceptance(body))
        link.sock.close()
        if kind == pdu.A_ASSOCIATE_RJ:
            rejection = pdu.parse_rejection(body)
            raise LinkError(
                Failure("association-rejected", rejection.describe(), rejection.transient),
                link.transcript,
            )
        if kind == pdu.A_ABORT:
            raise LinkError(
                Failure("association-aborted", pdu.describe_abort(body), True), link.transcript
            )
        raise LinkError(
            Failure(
                "protocol-error",
                f"the peer answered the association request with PDU type 0x{kind:02X}",
                False,
            ),
            link.transcript,
        )

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def send_command(self, context_id: int, command: bytes) -> None:
        self._send(context_id, [command], len(command), command=True)

    def send_dataset(self, context_id: int, chunks: Iterable[bytes], total: int) -> None:
        """Send ``total`` bytes of data set, given in chunks of any size, as P-DATA PDUs."""
        self._send(context_id, chunks, total, command=False)

    def _send(self, context_id: int, chunks: Iterable[bytes], total: int, command: bool) -> None:
        """Frame the bytes into PDVs of at most the peer's size (the one ending at ``total``
        flagged last), handing the socket about BATCH bytes of PDUs per write."""
        limit, sent, buffer, batch, batched = self.max_pdv_data, 0, bytearray(), [], 0
        try:
            for chunk in chunks:
                buffer += chunk
                while len(buffer) >= limit and sent + limit < total:
                    batch.append(self._frame(context_id, buffer[:limit], command, last=False))
                    batched += limit
                    del buffer[:limit]
                    sent += limit
                    if batched >= BATCH:
                        self.link.sock.sendall(b"".join(batch))
                        batch, batched = [], 0
            if not buffer and sent == 0:  # an empty value still ends with a last fragment
                batch.append(self._frame(context_id, b"", command, last=True))
            while buffer:
                piece = buffer[:limit]
                del buffer[:limit]
                batch.append(self._frame(context_id, piece, command, last=not buffer))
            self.link.sock.sendall(b"".join(batch))
        except OSError as error:
            self.link.sock.close()
            raise LinkError(self.link.explain(error), self.link.transcript) from error

    @staticmethod
    def _frame(context_id: int, data: bytes | bytearray, command: bool, last: bool) -> bytes:
        return pdu.pdv_header(len(data), context_id, command, last) + data

    def receive(self) -> Message:
        """The next complete DIMSE message from the peer."""
        command: dict[int, str | int] | None = None
        context_id, fragments = 0, []
        while True:
            for context_id, control, data in self._pdvs():
                fragments.append(data)
                if not control & 2:
                    continue
                if control & 1:
                    command, fragments = decode_command(b"".join(fragments)), []
                    if command.get(DATASET_TYPE) == NO_DATASET:
                        return Message(context_id, command)
                elif command is not None:
                    return Message(context_id, command, b"".join(fragments))

    def _pdvs(self) -> Iterator[tuple[int, int, bytes]]:
        """The PDVs of the next P-DATA PDU: (context, control header, data)."""
        try:
            kind, body = _read_pdu(self.link)
        except OSError as error:
            self.link.sock.close()
            raise LinkError(self.link.explain(error), self.link.transcript) from error
        if kind == pdu.A_ABORT:
            self.link.sock.close()
            raise LinkError(
                Failure("association-aborted", pdu.describe_abort(body), True), self.link.transcript
            )
        if kind != pdu.P_DATA_TF:
            self.abort()
            raise LinkError(
                Failure(
                    "protocol-error",
                    f"unexpected PDU type 0x{kind:02X} while waiting for a response",
                    True,
                )
            )
        pos = 0
        while pos + 6 <= len(body):
            length = struct.unpack_from(">I", body, pos)[0]
            yield body[pos + 4], body[pos + 5], body[pos + 6 : pos + 4 + length]
            pos += 4 + length

    def release(self) -> None:
        """Release politely; a peer that just closes is fine too."""
        try:
            self.link.sock.sendall(pdu.release_request())
            while True:
                kind, _ = _read_pdu(self.link)
                if kind in (pdu.A_RELEASE_RP, pdu.A_ABORT):
                    break
        except (OSError, LinkError):
            pass
        finally:
            self.link.sock.close()

    def abort(self) -> None:
        try:
            self.link.sock.sendall(pdu.abort())
        except OSError:
            pass
        finally:
            self.link.sock.close()


def _read_exact(link: Link, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        quick_ack(link.sock)
        chunk = link.sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionResetError("the peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_pdu(link: Link) -> tuple[int, bytes]:
    header = _read_exact(link, 6)
    kind, length = header[0], struct.unpack_from(">I", header, 2)[0]
    return kind, _read_exact(link, length)


#: Explicit and implicit VR little endian (as strings: echo starts without loading pydicom).
UNCOMPRESSED_SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


def open_service(
    link: Link, called: str, calling: str, sop_class: str, service: str
) -> tuple["Association", str]:
    """An association with one context (``sop_class``, uncompressed) that the peer accepted,
    and the transfer syntax it chose; LinkError when it refuses the service."""
    association = Association.request(
        link, called, calling, [pdu.ProposedContext(1, sop_class, UNCOMPRESSED_SYNTAXES)]
    )
    result = association.acceptance.contexts.get(1)
    if result is None or not result.accepted:
        association.abort()
        raise LinkError(
            Failure("service-refused", f"the peer does not offer {service}", False), link.transcript
        )
    return association, result.transfer_syntax
