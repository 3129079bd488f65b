"""A hostile SCP for tests: a raw socket server on loopback whose every byte a test scripts."""

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from desktop.net import dimse, pdu
from desktop.net.link import Connector, Link, ProtocolError
from tests.peers import LOOPBACK


@dataclass
class Conversation:
    """One accepted connection, seen from the peer's side; ``received`` lists the PDU types
    that came from us."""

    sock: socket.socket
    received: list[int] = field(default_factory=list)
    proposed: list[pdu.ProposedContext] = field(default_factory=list)
    dataset: bytes = b""  # the data set of the last message read

    def read_pdu(self) -> tuple[int, bytes]:
        kind, _, length = struct.unpack(">BBI", self._exact(6))
        self.received.append(kind)
        return kind, self._exact(length)

    def _exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionResetError("closed")
            data += chunk
        return data

    def read_request(self) -> None:
        kind, body = self.read_pdu()
        unit = pdu.decode(kind, body)
        assert isinstance(unit, pdu.Associate)
        self.proposed = [i for i in unit.items if isinstance(i, pdu.ProposedContext)]

    def accept(self, *, max_pdu: int = 16384) -> None:
        """Read the A-ASSOCIATE-RQ and accept every context with its first syntax."""
        self.read_request()
        self.accept_proposed(max_pdu=max_pdu)

    def accept_proposed(self, *, max_pdu: int = 16384) -> None:
        items: list[pdu.Item] = [pdu.ApplicationContext()]
        items += [pdu.ContextResult(c.context_id, 0, c.transfer_syntaxes[0]) for c in self.proposed]
        items.append(pdu.UserInformation((pdu.MaximumLength(max_pdu),)))
        self.send(pdu.Associate(pdu.A_ASSOCIATE_AC, "COURIER", "SCP", tuple(items)).encode())

    def read_message(self) -> tuple[int, dict[int, str | int]]:
        """The next DIMSE message from us: context, command (its data set in ``dataset``)."""
        command: dict[int, str | int] | None = None
        fragments = b""
        while True:
            kind, body = self.read_pdu()
            unit = pdu.decode(kind, body)
            assert isinstance(unit, pdu.PData), f"PDU type {kind} instead of P-DATA"
            for pdv in unit.pdvs:
                fragments += pdv.data
                if not pdv.last:
                    continue
                if pdv.command:
                    command, fragments = dimse.decode_command(fragments), b""
                    if command[dimse.DATASET_TYPE] == dimse.NO_DATASET:
                        return pdv.context_id, command
                else:
                    assert command is not None
                    self.dataset = fragments
                    return pdv.context_id, command

    def respond(
        self, context_id: int, elements: dict[int, str | int], dataset: bytes | None = None
    ) -> None:
        elements = {dimse.DATASET_TYPE: dimse.NO_DATASET if dataset is None else 0, **elements}
        pdvs = [pdu.Pdv(context_id, 3, dimse.encode_command(elements))]
        if dataset is not None:
            pdvs.append(pdu.Pdv(context_id, 2, dataset))
        self.send(pdu.PData(tuple(pdvs)).encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drain(self) -> None:
        """Read what we send until we close (the PDU types land in ``received``), answering
        a release as a well-behaved peer would."""
        try:
            while True:
                if self.read_pdu()[0] == pdu.A_RELEASE_RQ:
                    self.send(pdu.Release(pdu.A_RELEASE_RP).encode())
        except OSError:
            return


Script = Callable[[Conversation], None]


@dataclass
class ScriptedPeer:
    port: int
    conversations: list[Conversation]
    errors: list[BaseException]

    def connector(self, timeout: float) -> Connector:
        def connect() -> Link:
            sock = socket.create_connection((LOOPBACK, self.port), timeout=timeout)
            return Link(sock, {"peer": f"{LOOPBACK}:{self.port}"})

        return connect


@contextmanager
def scripted_peer(script: Script, connections: int = 1) -> Iterator[ScriptedPeer]:
    """Serve ``connections`` connections, each by ``script`` then a drain of what we send."""
    server = socket.create_server((LOOPBACK, 0))
    server.settimeout(30)
    peer = ScriptedPeer(server.getsockname()[1], [], [])

    def serve() -> None:
        for _ in range(connections):
            try:
                sock, _ = server.accept()
            except OSError:
                return
            conversation = Conversation(sock)
            peer.conversations.append(conversation)
            with sock:
                sock.settimeout(30)
                try:
                    script(conversation)
                    conversation.drain()
                except (OSError, AssertionError, ProtocolError) as error:
                    peer.errors.append(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.close()
        thread.join(timeout=30)
