"""Stopping a send from another thread, even while it waits on a silent peer.

A cancel sets a flag the sender checks between instances and shuts down the socket of every
link opened through ``connector``, a TLS handshake's too: a read blocked on a peer that says
nothing returns at once (as if the peer had closed), and the sender's usual failure path
aborts the association. A storage commitment request connects the same way.
"""

import socket
import threading
import weakref
from contextlib import suppress

from desktop.core.opening import Watch, watching
from desktop.net.link import Connector, Failure, Link, LinkError

CANCELLED = Failure("cancelled", "cancelled", False)


class Cancel:
    """A cancel shared by a sender (which connects through ``connector``) and its canceller."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # cancel() may run in a signal handler of its holder
        self._event = threading.Event()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def connector(self, connect: Connector) -> Connector:
        """``connect``, each link it opens shut down when cancelled (at once if already),
        its socket from the moment it is opened (a TLS handshake waiting on a silent peer
        wakes); a failure after the cancel is not explained (no probe of the peer: it is
        ours)."""

        def watched() -> Link:
            try:
                with watching(Watch(self._adopt, lambda: self.cancelled)):
                    link = connect()
            except LinkError:
                if self.cancelled:
                    raise LinkError(CANCELLED) from None
                raise
            explain = link.explain
            link.explain = lambda error: CANCELLED if self.cancelled else explain(error)
            self._adopt(link.sock)
            return link

        return watched

    def _adopt(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self.cancelled:
            shut_down(sock)

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or until cancelled (a send's backoff)."""
        self._event.wait(seconds)

    def cancel(self) -> None:
        """Stop the sender: every open link is shut down, waking any read blocked on it."""
        with self._lock:
            self._event.set()
            sockets = list(self._sockets)
        for sock in sockets:
            shut_down(sock)


def shut_down(sock: socket.socket) -> None:
    """Shut ``sock`` down under its TLS layer (if any, which its own thread alone touches):
    a connect(), handshake or read blocked on it wakes."""
    with suppress(OSError):  # already closed by the sender
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
