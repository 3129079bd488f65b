"""Our storage SCP: the move destination, the demo PACS and ``dicom-courier listen``.

Our own acceptor on our own upper layer. Each connection gets a thread; a socket that has not
completed its TLS handshake and A-ASSOCIATE-RQ within ``request_timeout`` is closed, and only
negotiated associations count against ``max_associations``, so idle sockets cannot lock
clients out. Data sets stream from the socket into a file under ``OUT/.incoming`` (memory per
association: one PDU), are checked (``intake``) and only then filed and answered Success.
"""

import contextlib
import hashlib
import logging
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop.core.errors import CourierError
from desktop.core.filing import stored_path
from desktop.net import acceptor
from desktop.net.acceptor import AssociationRequest, AssociationRequestError, ContextAnswer
from desktop.net.catalogue import VERIFICATION, is_storage_class, transfer_syntaxes
from desktop.net.link import tune
from desktop.net.pdu import (
    A_ASSOCIATE_RQ,
    APPLICATION_CONTEXT,
)
from desktop.net.ratelimit import PeerLimiter
from desktop.net.receiver import (
    Association,
    ListenerSettings,
    PeerProtocolError,
    Sink,
    recv_exact,
    send,
)

log = logging.getLogger(__name__)
__all__ = [
    "ListenerError",
    "ListenerSettings",
    "Sink",
    "StorageListener",
    "TlsAcceptor",
    "stored_path",
]

MAX_REQUEST = 1 << 18  # an A-ASSOCIATE-RQ with 128 contexts fits in a tenth of this
FINGERPRINT = re.compile(r"[0-9a-f]{64}")

# What the composition root gives us: an accepted socket and a handshake deadline in, a TLS
# socket (or None) and the handshake transcript (JSON-ready) out.
TlsAcceptor = Callable[[socket.socket, float], tuple[ssl.SSLSocket | None, dict[str, Any]]]


class ListenerError(CourierError):
    """The listener cannot start (port in use, folder not writable, bad settings ...)."""


def parse_allowed(entries: list[str]) -> dict[str, frozenset[str]]:
    """``AE`` or ``AE=SHA256FP`` entries → AE title → bound certificate fingerprints."""
    allowed: dict[str, set[str]] = {}
    for entry in entries:
        title, _, fingerprint = entry.partition("=")
        title = title.strip()
        if not title or len(title) > 16:
            raise ListenerError(f"{entry!r}: an AE title is 1 to 16 characters")
        bound = allowed.setdefault(title, set())
        if fingerprint:
            normal = fingerprint.replace(":", "").strip().lower()
            if not FINGERPRINT.fullmatch(normal):
                raise ListenerError(
                    f"{entry!r}: after '=' comes a certificate's SHA-256 fingerprint "
                    "(64 hex digits, colons allowed)"
                )
            bound.add(normal)
    return {title: frozenset(fingerprints) for title, fingerprints in allowed.items()}


class StorageListener:
    """A storage SCP for every storage SOP class and transfer syntax, storing as received."""

    def __init__(
        self, settings: ListenerSettings, sink: Sink, tls_acceptor: TlsAcceptor | None = None
    ) -> None:
        self.settings = settings
        self.allowed = parse_allowed(settings.allowed_calling)
        self.sink = sink
        self.tls_acceptor = tls_acceptor
        self.limiter = PeerLimiter()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._pending = threading.BoundedSemaphore(settings.max_pending)
        self._associations = threading.BoundedSemaphore(settings.max_associations)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        assert self._socket is not None
        return int(self._socket.getsockname()[1])

    @property
    def incoming(self) -> Path:
        return self.settings.out / ".incoming"

    def start(self) -> "StorageListener":
        settings = self.settings
        try:
            self.incoming.mkdir(parents=True, exist_ok=True)
            self._sweep_incoming()
        except OSError as error:
            raise ListenerError(
                f"cannot use {settings.out} as the inbox: {error.strerror}"
            ) from error
        try:
            self._socket = socket.create_server((settings.host, settings.port), backlog=128)
        except OSError as error:
            raise ListenerError(
                f"cannot listen on {settings.host}:{settings.port}: {error.strerror}"
            ) from error
        self._thread = threading.Thread(
            target=self._accept_loop, daemon=True, name=f"listener:{self.port}"
        )
        self._thread.start()
        return self

    def _sweep_incoming(self) -> None:
        """Remove what a crashed listener left in ``.incoming``: files untouched for longer
        than any live association stays silent (another listener may share the inbox)."""
        stale = time.time() - 2 * self.settings.idle_timeout
        for leftover in self.incoming.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if leftover.is_file() and leftover.stat().st_mtime < stale:
                    leftover.unlink()
                    log.info("removed %s, left by an interrupted transfer", leftover.name)

    def stop(self) -> None:
        """Stop accepting and close every connection (their partial files are removed)."""
        if self._socket is None:
            return
        self._stopping.set()
        listening, self._socket = self._socket, None
        with contextlib.suppress(OSError):
            listening.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
        listening.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for connection in list(self._open):
                _shutdown(connection)

    # -- connections -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listening = self._socket
        assert listening is not None
        while not self._stopping.is_set():
            try:
                raw, (host, port, *_) = listening.accept()
            except OSError:
                time.sleep(0.05)  # stopping, or out of file descriptors for a moment
                continue
            if not self._pending.acquire(blocking=False):
                _shutdown(raw)
                self._note(host, "connection-dropped", f"{host}:{port}", "too many connections")
                continue
            threading.Thread(
                target=self._serve, args=(raw, host, port), daemon=True, name=f"scp:{host}:{port}"
            ).start()

    def _serve(self, raw: socket.socket, host: str, port: int) -> None:
        """One connection: handshake and A-ASSOCIATE-RQ within ``request_timeout``, then
        the association (no longer counted as pending)."""
        peer = f"{host}:{port}"
        deadline = time.monotonic() + self.settings.request_timeout
        pending = True
        connection = self._track(raw)
        try:
            tune(raw)
            fingerprint = ""
            if self.tls_acceptor is not None:
                secured, transcript = self.tls_acceptor(raw, self.settings.request_timeout)
                if secured is None:
                    self._note(host, "handshake", peer, transcript=transcript)
                    return
                self.sink({"event": "handshake", "transcript": transcript})
                connection = self._track(secured)
                certificate = secured.getpeercert(binary_form=True) or b""
                fingerprint = hashlib.sha256(certificate).hexdigest()
            try:
                request = _read_request(connection, deadline)
            except TimeoutError:
                wait = self.settings.request_timeout
                self._note(host, "connection-dropped", peer, f"no A-ASSOCIATE-RQ within {wait:g} s")
                return
            except (AssociationRequestError, PeerProtocolError) as error:
                self._note(host, "association-aborted", peer, f"bad A-ASSOCIATE-RQ: {error}")
                send(connection, acceptor.provider_abort(acceptor.ABORT_INVALID_PARAMETER))
                return
            self._pending.release()
            pending = False
            self._associate(connection, request, peer, fingerprint)
        except OSError as error:
            log.info("connection from %s ended: %s", peer, error)
        finally:
            if pending:
                self._pending.release()
            with self._lock:
                self._open.difference_update({raw, connection})
            _shutdown(connection)

    def _track(self, connection: socket.socket) -> socket.socket:
        with self._lock:
            self._open.add(connection)
        return connection

    def _note(self, host: str, event: str, peer: str, reason: str = "", **details: Any) -> None:
        """Record a connection that failed before associating: a few records a minute per
        peer host, the next one saying how many were left out."""
        suppressed = self.limiter.allow(host)
        if suppressed is None:
            return
        record = {"event": event, "peer": peer, **({"reason": reason} if reason else {}), **details}
        if suppressed:
            record["suppressed_before"] = suppressed
        self.sink(record)

    def _associate(
        self, connection: socket.socket, request: AssociationRequest, peer: str, fingerprint: str
    ) -> None:
        rejection = self._rejection(request, fingerprint)
        if rejection is None and not self._associations.acquire(blocking=False):
            limit = self.settings.max_associations
            rejection = acceptor.REJECT_LOCAL_LIMIT, f"already {limit} associations"
        if rejection is not None:
            (result, source, reason), why = rejection
            self.sink(
                {
                    "event": "association-rejected",
                    "calling": request.calling,
                    "called": request.called,
                    "peer": peer,
                    "reason": why,
                }
            )
            send(connection, acceptor.associate_reject(result, source, reason))
            return
        try:
            answers = self._answers(request)
            send(
                connection,
                acceptor.associate_accept(request, answers, self.settings.max_pdu_length),
            )
            accepted = {a.context_id: a.transfer_syntax for a in answers if a.result == 0}
            Association(self.settings, self.sink, connection, request, peer, accepted).run()
        finally:
            self._associations.release()

    def _rejection(
        self, request: AssociationRequest, fingerprint: str
    ) -> tuple[tuple[int, int, int], str] | None:
        if not request.protocol_version & 1:
            return acceptor.REJECT_PROTOCOL_VERSION, "protocol version 1 not offered"
        if request.application_context != APPLICATION_CONTEXT:
            return acceptor.REJECT_APPLICATION_CONTEXT, (
                f"unknown application context {request.application_context!r}"
            )
        if request.called != self.settings.ae_title:
            return acceptor.REJECT_CALLED_AE, (
                f"called AE title {request.called!r} is not ours ({self.settings.ae_title!r})"
            )
        if self.allowed:
            if request.calling not in self.allowed:
                return acceptor.REJECT_CALLING_AE, (
                    f"calling AE title {request.calling!r} is not in the allowed list"
                )
            bound = self.allowed[request.calling]
            if bound and fingerprint not in bound:
                return acceptor.REJECT_CALLING_AE, (
                    f"calling AE title {request.calling!r} is bound to another client "
                    f"certificate (this one: SHA-256 {fingerprint or 'none, plain TCP'})"
                )
        return None

    def _answers(self, request: AssociationRequest) -> list[ContextAnswer]:
        syntaxes = transfer_syntaxes()
        answers = []
        for proposal in request.proposals:
            wanted = proposal.abstract_syntax == VERIFICATION or is_storage_class(
                proposal.abstract_syntax, accept_private=self.settings.accept_private
            )
            syntax = next((s for s in proposal.transfer_syntaxes if s in syntaxes), "")
            if not wanted:
                result = acceptor.ABSTRACT_NOT_SUPPORTED
            elif not syntax:
                result = acceptor.TRANSFER_NOT_SUPPORTED
            else:
                result = acceptor.ACCEPTED
            answers.append(ContextAnswer(proposal.context_id, result, syntax))
        return answers


def _read_request(connection: socket.socket, deadline: float) -> AssociationRequest:
    header = recv_exact(connection, 6, deadline)
    kind, length = header[0], struct.unpack_from(">I", header, 2)[0]
    if kind != A_ASSOCIATE_RQ:
        raise PeerProtocolError(f"PDU type 0x{kind:02X} before any A-ASSOCIATE-RQ")
    if length > MAX_REQUEST:
        raise PeerProtocolError(f"an A-ASSOCIATE-RQ of {length} bytes")
    return acceptor.parse_request(recv_exact(connection, length, deadline))


def _shutdown(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
