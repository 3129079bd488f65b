"""What the network layer needs from a connection, whoever made it (TLS or plain).

``net`` never builds TLS itself: the composition root passes a ``Connector`` that opens the
socket (with its handshake transcript) and explains failures in plain words.
"""

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from desktop.core.errors import CourierError

TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
#: Tries of a send before it gives up on transient failures (``Failure.transient``).
DEFAULT_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a connection or an association failed, and whether trying later may help."""

    code: str
    text: str
    transient: bool


class LinkError(CourierError):
    """The connection or association failed; ``failure`` says why."""

    def __init__(self, failure: Failure, transcript: dict[str, Any] | None = None) -> None:
        super().__init__(failure.text)
        self.failure = failure
        self.transcript = transcript or {}


class ProtocolError(LinkError):
    """The peer broke the DICOM upper-layer protocol (a malformed PDU, an unexpected or invalid
    response): the association is aborted with ``reason`` (PS3.8 table 9-26)."""

    def __init__(self, text: str, reason: int = 0) -> None:
        super().__init__(
            Failure("protocol-error", f"the peer broke the DICOM protocol: {text}", False)
        )
        self.reason, self.detail = reason, text


@dataclass(slots=True)
class Link:
    """An open connection to a peer, its handshake transcript and its failure explainer."""

    sock: socket.socket
    transcript: dict[str, Any] = field(default_factory=dict)
    explain: Callable[[BaseException], Failure] = field(
        default=lambda error: Failure("connection-lost", f"connection lost: {error}", True)
    )


Connector = Callable[[], Link]  # raises LinkError


def tune(sock: socket.socket) -> None:
    """No Nagle delay on our writes (peers as shipped ack late: 40 ms a C-STORE otherwise);
    a stream that is not TCP has none to turn off."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return


def quick_ack(sock: socket.socket) -> None:
    """Ask Linux to acknowledge the next segment at once instead of delaying the ACK."""
    if TCP_QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        except OSError:
            return
