"""A hostile DICOM client on raw sockets: it negotiates like a requestor, then sends whatever
bytes a test wants as data sets (truncated, lying, bombs), one PDV of 16 KB at a time."""

import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from desktop.net import dimse
from desktop.net.pdu import (
    A_RELEASE_RQ,
    ProposedContext,
    Release,
    associate_request,
    pdv_header,
)

EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
FRAGMENT = 16 << 10


@dataclass
class Answer:
    status: int
    comment: str


def read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    header = _exact(sock, 6)
    return header[0], _exact(sock, struct.unpack_from(">I", header, 2)[0])


def _exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed by the listener")
        data += chunk
    return data


class RawClient:
    """One association; ``accepted`` holds the context IDs the listener accepted."""

    def __init__(
        self,
        port: int,
        contexts: list[tuple[str, str]],
        *,
        called: str = "COURIER",
        calling: str = "HOSTILE",
    ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        proposed = [
            ProposedContext(1 + 2 * i, abstract, (syntax,))
            for i, (abstract, syntax) in enumerate(contexts)
        ]
        self.sock.sendall(associate_request(called, calling, proposed, 1 << 20))
        self.kind, body = read_pdu(self.sock)
        self.reject_reason = body[3] if self.kind == 0x03 else None
        self.accepted: set[int] = set()
        if self.kind == 0x02:
            position = 68
            while position < len(body):
                item, length = body[position], struct.unpack_from(">H", body, position + 2)[0]
                if item == 0x21 and body[position + 6] == 0:
                    self.accepted.add(body[position + 4])
                position += 4 + length

    def store(
        self, context_id: int, sop_class: str, sop_instance: str, dataset: Iterable[bytes]
    ) -> Answer:
        command = dimse.store_request(1, sop_class, sop_instance)
        self.sock.sendall(pdv_header(len(command), context_id, True, True) + command)
        for chunk, last in _with_last(_fragments(dataset)):
            self.sock.sendall(pdv_header(len(chunk), context_id, False, last) + chunk)
        kind, body = read_pdu(self.sock)
        assert kind == 0x04, f"expected P-DATA-TF, got PDU type {kind}"
        answer = dimse.decode_command(body[6:])
        return Answer(int(answer[dimse.STATUS]), str(answer.get(dimse.ERROR_COMMENT, "")))

    def release(self) -> None:
        self.sock.sendall(Release(A_RELEASE_RQ).encode())
        read_pdu(self.sock)
        self.sock.close()


def _fragments(dataset: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for data in dataset:
        pending += data
        while len(pending) >= FRAGMENT:
            yield pending[:FRAGMENT]
            pending = pending[FRAGMENT:]
    if pending:
        yield pending


def _with_last(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    previous = next(chunks, None)
    if previous is None:
        yield b"", True  # an empty data set still ends with a last fragment
        return
    for chunk in chunks:
        yield previous, False
        previous = chunk
    yield previous, True
