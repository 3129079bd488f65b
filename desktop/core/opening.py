"""Connections being opened on this thread, shown to whoever may have to stop them.

A cancel from another thread can only wake a read blocked on a socket it knows: a connector
calls ``opened`` with its socket before it may block on the peer (a TLS handshake), and a
canceller that ``watching`` set for the thread is given it (and is asked, by ``stopped``,
whether a failure is its own doing, not the peer's).
"""

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Watch:
    """Who wants the sockets opened: ``adopt`` each; ``stopped()`` once it stopped them."""

    adopt: Callable[[socket.socket], None]
    stopped: Callable[[], bool]


_watch: ContextVar[Watch | None] = ContextVar("opening_watch", default=None)


@contextmanager
def watching(watch: Watch) -> Iterator[None]:
    """The sockets opened in the block (on this thread) are given to ``watch``."""
    token = _watch.set(watch)
    try:
        yield
    finally:
        _watch.reset(token)


def current() -> Watch | None:
    """The watch set for this thread, if any (to hand on to another thread's connection)."""
    return _watch.get()


def opened(sock: socket.socket) -> None:
    """``sock`` was opened and may now block on the peer."""
    watch = _watch.get()
    if watch is not None:
        watch.adopt(sock)


def connection(address: tuple[str | bytes, int], timeout: float | None) -> socket.socket:
    """``socket.create_connection``, each socket shown to the watch before it connects: a
    cancel wakes a connect() to a host that never answers (its SYN unanswered), not only a
    read once connected."""
    host, port = address
    failure: OSError | None = None
    for family, kind, protocol, _, where in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(timeout)
            opened(sock)
            sock.connect(where)
            return sock
        except OSError as error:
            sock.close()
            failure = error
            if stopped():
                break  # the watch stopped it: no other address is tried
    raise failure or OSError(f"getaddrinfo returned no address for {host!r}")


def stopped() -> bool:
    """Whether the watcher stopped the connection (a failure then says nothing of the peer)."""
    watch = _watch.get()
    return watch is not None and watch.stopped()
