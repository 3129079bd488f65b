"""Our listener: the move destination, the demo PACS and ``dicom-courier listen``; a storage
SCP, and a query/retrieve (or other) provider for the services it is given.

Our own acceptor on our own upper layer. Each connection gets a thread; a socket that has not
completed its TLS handshake and A-ASSOCIATE-RQ within ``request_timeout`` is closed, and only
negotiated associations count against ``max_associations``. Connections still waiting are
capped per address and in total; a new one pushes out the oldest waiting one (of its address
first), so idle sockets, from one address or many, cannot lock an allowed sender out.
Data sets stream from the socket into a file under ``OUT/.incoming`` (memory per
association: one PDU), are checked (``intake``) and only then filed and answered Success.
"""

import contextlib
import contextvars
import errno
import hashlib
import logging
import os
import socket
import ssl
import struct
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core import opening
from desktop.core.access import RETRIEVE, STORE, AccessError, AccessList
from desktop.core.errors import CourierError
from desktop.core.files import in_use, private_folder
from desktop.core.filing import stored_path
from desktop.net import acceptor
from desktop.net.acceptor import AssociationRequest, AssociationRequestError, ContextAnswer
from desktop.net.cancel import shut_down
from desktop.net.catalogue import (
    EXPLICIT_LITTLE,
    IMPLICIT_LITTLE,
    VERIFICATION,
    is_storage_class,
    transfer_syntaxes,
)
from desktop.net.exchange import PeerProtocolError, Service
from desktop.net.link import tune
from desktop.net.pdu import (
    A_ASSOCIATE_RQ,
    APPLICATION_CONTEXT,
)
from desktop.net.ratelimit import PeerLimiter
from desktop.net.receiver import (
    Association,
    ListenerSettings,
    Services,
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
USER_REJECTION = 1  # a presentation context the calling AE title is not granted
ENCODABLE = frozenset({EXPLICIT_LITTLE, IMPLICIT_LITTLE})  # for identifiers we answer with
REAP_INTERVAL = 0.5  # how often the accept loop closes waiting connections past their time
REAP_GRACE = 1.0  # the connection's own deadline normally ends it first

# What the composition root gives us: an accepted socket and a handshake deadline in, a TLS
# socket (or None) and the handshake transcript (JSON-ready) out.
TlsAcceptor = Callable[[socket.socket, float], tuple[ssl.SSLSocket | None, dict[str, Any]]]
# The access list as it is now, asked for each association (a CourierError: it cannot be read).
AccessSource = Callable[[], AccessList]


class ListenerError(CourierError):
    """The listener cannot start (port in use, folder not writable, bad settings ...)."""


@dataclass(slots=True)
class Waiting:
    """A connection that has not yet completed its A-ASSOCIATE-RQ (TLS handshake included)."""

    host: str
    peer: str
    since: float
    descriptor: int
    cut: bool = False  # closed by the listener (pushed out or too slow), already recorded

    def close(self) -> None:
        """Shut the connection down under its thread's feet (a duplicate descriptor reaches
        the socket even while a TLS wrapper owns the original)."""
        self.cut = True
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self.descriptor)) as dup:
            dup.shutdown(socket.SHUT_RDWR)


class StorageListener:
    """A storage SCP for every storage SOP class and transfer syntax, storing as received,
    and the provider of ``services`` (query/retrieve, storage commitment ...)."""

    def __init__(
        self,
        settings: ListenerSettings,
        sink: Sink,
        tls_acceptor: TlsAcceptor | None = None,
        *,
        services: list[Service] | None = None,
        access: AccessSource | None = None,
    ) -> None:
        """``access``, when given, is asked for each association (an edited list applies to
        the next one); otherwise ``settings.allowed_calling`` applies."""
        self.settings = settings
        try:
            fixed = AccessList.parse(settings.allowed_calling)
        except AccessError as error:
            raise ListenerError(str(error)) from error
        self.access: AccessSource = access or (lambda: fixed)
        self.services: Services = {
            (service.command_field, sop_class): service
            for service in services or []
            for sop_class in service.sop_classes
        }
        self.served = {
            sop_class: service.permission for (_, sop_class), service in self.services.items()
        }
        self.sink = sink
        self.tls_acceptor = tls_acceptor
        self.limiter = PeerLimiter()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._waiting: dict[socket.socket, Waiting] = {}  # oldest first
        self._associations = threading.BoundedSemaphore(settings.max_associations)
        self._background = threading.BoundedSemaphore(settings.max_associations)  # ``_later``
        self._open: set[socket.socket] = set()
        #: Opened by the associations' services (a C-MOVE's, a commitment report's): ``stop``
        #: shuts them, so a thread connecting to a node that never answers ends with it.
        self._outgoing: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._serving: set[threading.Thread] = set()  # joined by ``stop``
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.connections = 0  # accepted so far: whether a peer reached us at all

    @property
    def port(self) -> int:
        assert self._socket is not None
        return int(self._socket.getsockname()[1])

    @property
    def incoming(self) -> Path:
        return self.settings.out / ".incoming"

    def start(self) -> "StorageListener":
        """Listen and accept on a thread of its own; a ``ListenerError`` in plain words when
        the inbox or the port cannot be used."""
        settings = self.settings
        try:
            private_folder(self.incoming)
            self._sweep_incoming()
        except OSError as error:
            raise ListenerError(
                f"cannot use {settings.out} as the inbox: {error.strerror}"
            ) from error
        try:
            self._socket = socket.create_server((settings.host, settings.port), backlog=128)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ListenerError(
                    f"port {settings.port} on {settings.host} is already in use by another "
                    "program (another DICOM Courier listener?): choose another port or stop it"
                ) from error
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise ListenerError(
                f"cannot listen on {settings.host}:{settings.port}: {reason}"
            ) from error
        self._socket.settimeout(REAP_INTERVAL)  # the accept loop wakes to close late ones
        self._thread = threading.Thread(
            target=self._accept_loop, daemon=True, name=f"listener:{self.port}"
        )
        self._thread.start()
        return self

    def _sweep_incoming(self) -> None:
        """Remove what a crashed or killed listener left in ``.incoming``: every file no live
        process writes (another listener may share the inbox; on Windows: files untouched for
        longer than any live association stays silent)."""
        stale = time.time() - 2 * self.settings.idle_timeout
        for leftover in self.incoming.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if leftover.is_file() and not in_use(leftover, since=stale):
                    size = leftover.stat().st_size
                    leftover.unlink()
                    log.warning(
                        "removed %s (%d bytes) from %s: a receive interrupted by a crash left it",
                        leftover.name,
                        size,
                        self.incoming,
                    )

    def stop(self) -> None:
        """Stop accepting and close every connection, waiting (up to 5 s) for their threads
        to end: their partial files are removed, nothing is written afterwards."""
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
            outgoing = list(self._outgoing)
        for sock in outgoing:  # their threads' connect, handshake or read wakes
            shut_down(sock)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # again: an ending association may start work
            with self._lock:
                serving = list(self._serving)
            if not serving:
                break
            for thread in serving:  # they remove what they were receiving, then end
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- connections -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listening = self._socket
        assert listening is not None
        while not self._stopping.is_set():
            self._reap()
            try:
                raw, (host, port, *_) = listening.accept()
            except TimeoutError:
                continue
            except OSError:
                time.sleep(0.05)  # stopping, or out of file descriptors for a moment
                continue
            raw.settimeout(None)
            self.connections += 1
            waiting = self._admit(raw, host, f"{host}:{port}")
            thread = threading.Thread(
                target=self._serve_watched,
                args=(raw, waiting),
                daemon=True,
                name=f"scp:{host}:{port}",
            )
            with self._lock:
                self._serving.add(thread)
            thread.start()

    def _admit(self, raw: socket.socket, host: str, peer: str) -> Waiting:
        """Count ``raw`` as waiting; at a cap, push out the oldest waiting connection of the
        same address (or, at the total cap, of any) and record that (rate-limited, audited)."""
        settings = self.settings
        with self._lock:
            same = [r for r, w in self._waiting.items() if w.host == host]
            if len(same) >= settings.max_pending_per_host:
                pushed, cap = self._cut(same[0]), f"{len(same)} waiting connections from {host}"
            elif len(self._waiting) >= settings.max_pending:
                cap = f"{len(self._waiting)} waiting connections in all"
                pushed = self._cut(next(iter(self._waiting)))
            else:
                pushed, cap = None, ""
            waiting = Waiting(host, peer, time.monotonic(), raw.fileno())
            self._waiting[raw] = waiting
        if pushed is not None:
            reason = f"{cap} without an association request: the oldest was closed"
            if self._note(pushed.host, "connection-dropped", pushed.peer, reason, capped=True):
                log.warning("closed %s: %s", pushed.peer, reason)
        return waiting

    def _reap(self) -> None:
        """Close connections still waiting well past ``request_timeout`` (a TLS handshake
        dripping a byte at a time outlives each read's timeout)."""
        late = time.monotonic() - self.settings.request_timeout - REAP_GRACE
        with self._lock:
            reaped = [self._cut(r) for r, w in list(self._waiting.items()) if w.since < late]
        for waiting in reaped:
            wait = self.settings.request_timeout
            self._note(
                waiting.host,
                "connection-dropped",
                waiting.peer,
                f"no TLS handshake and A-ASSOCIATE-RQ within {wait:g} s",
            )

    def _cut(self, raw: socket.socket) -> Waiting:
        """Close a waiting connection (the lock held: its thread closes the descriptor only
        once the connection is no longer listed)."""
        waiting = self._waiting.pop(raw)
        waiting.close()
        return waiting

    def _serve_watched(self, raw: socket.socket, waiting: Waiting) -> None:
        """``_serve``, the sockets its services open shown to ``stop``."""
        with opening.watching(opening.Watch(self._adopt, self._stopping.is_set)):
            self._serve(raw, waiting)

    def _later(self, work: Callable[[], None]) -> bool:
        """Run ``work`` (a commitment report on a new association) on a thread of its own,
        holding no association slot, its sockets shown to ``stop`` as its association's were;
        False when ``max_associations`` such threads are already running."""
        if not self._background.acquire(blocking=False):
            return False
        context = contextvars.copy_context()  # the association's watch: stop wakes the work

        def run() -> None:
            try:
                context.run(work)
            finally:
                with self._lock:
                    self._serving.discard(threading.current_thread())
                self._background.release()

        thread = threading.Thread(target=run, daemon=True, name="scp:later")
        with self._lock:
            self._serving.add(thread)
        thread.start()
        return True

    def _adopt(self, sock: socket.socket) -> None:
        with self._lock:
            self._outgoing.add(sock)
        if self._stopping.is_set():
            shut_down(sock)

    def _serve(self, raw: socket.socket, waiting: Waiting) -> None:
        """One connection: handshake and A-ASSOCIATE-RQ within ``request_timeout``, then
        the association (no longer counted as waiting)."""
        host, peer = waiting.host, waiting.peer
        deadline = waiting.since + self.settings.request_timeout
        connection = self._track(raw)
        try:
            tune(raw)
            fingerprint = ""
            if self.tls_acceptor is not None:
                secured, transcript = self.tls_acceptor(raw, self.settings.request_timeout)
                if secured is None:
                    if not waiting.cut:
                        self._note(host, "handshake", peer, transcript=transcript)
                    return
                self.sink({"event": "handshake", "transcript": transcript})
                connection = self._track(secured)
                certificate = secured.getpeercert(binary_form=True) or b""
                fingerprint = hashlib.sha256(certificate).hexdigest()
            try:
                request = _read_request(connection, deadline)
            except TimeoutError:
                if not waiting.cut:
                    wait = self.settings.request_timeout
                    self._note(
                        host, "connection-dropped", peer, f"no A-ASSOCIATE-RQ within {wait:g} s"
                    )
                return
            except (AssociationRequestError, PeerProtocolError) as error:
                self._note(host, "association-aborted", peer, f"bad A-ASSOCIATE-RQ: {error}")
                send(connection, acceptor.provider_abort(acceptor.ABORT_INVALID_PARAMETER))
                return
            with self._lock:
                if waiting.cut:
                    return
                del self._waiting[raw]
            self._associate(connection, request, peer, fingerprint)
        except OSError as error:
            if not waiting.cut:
                log.info("connection from %s ended: %s", peer, error)
        finally:
            with self._lock:  # before the descriptor is closed and may be reused
                self._waiting.pop(raw, None)
                self._open.difference_update({raw, connection})
                self._serving.discard(threading.current_thread())
            _shutdown(connection)

    def _track(self, connection: socket.socket) -> socket.socket:
        with self._lock:
            self._open.add(connection)
        return connection

    def _note(self, host: str, event: str, peer: str, reason: str = "", **details: Any) -> bool:
        """Record a connection that failed before associating: a few records a minute per
        peer host, the next one saying how many were left out. False if left out."""
        suppressed = self.limiter.allow(host)
        if suppressed is None:
            return False
        record = {"event": event, "peer": peer, **({"reason": reason} if reason else {}), **details}
        if suppressed:
            record["suppressed_before"] = suppressed
        self.sink(record)
        return True

    def _associate(
        self, connection: socket.socket, request: AssociationRequest, peer: str, fingerprint: str
    ) -> None:
        try:
            access = self.access()
            rejection = self._rejection(request, access, fingerprint)
        except CourierError as error:  # refuse everyone rather than guess
            access, rejection = (
                AccessList(),
                (
                    acceptor.REJECT_CALLING_AE,
                    f"the access list cannot be read, so no one is allowed: {error}",
                ),
            )
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
            permitted = access.services(request.calling, fingerprint)
            answers = self._answers(request, permitted, peer)
            accepted = {a.context_id: a.transfer_syntax for a in answers if a.result == 0}
            abstract = {p.context_id: p.abstract_syntax for p in request.proposals}
            roles = {
                sop_class: proposed
                for sop_class, proposed in request.roles.items()
                if sop_class in {abstract[c] for c in accepted}
            }
            send(
                connection,
                acceptor.associate_accept(request, answers, self.settings.max_pdu_length, roles),
            )
            Association(
                self.settings,
                self.sink,
                connection,
                request,
                peer,
                accepted,
                services=self.services,
                permitted=permitted,
                later=self._later,
            ).run()
        finally:
            self._associations.release()

    def _rejection(
        self, request: AssociationRequest, access: AccessList, fingerprint: str
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
        refusal = access.refusal(request.calling, fingerprint)
        if refusal:
            return acceptor.REJECT_CALLING_AE, refusal
        return None

    def _answers(
        self, request: AssociationRequest, permitted: frozenset[str], peer: str
    ) -> list[ContextAnswer]:
        """Each proposed context accepted, not supported, or refused because the calling AE
        title is not granted its service (reported once per association: a refusal when
        nothing but verification is left to it, else contexts declined as SCUs propose more
        than they use, as movescu proposes storage)."""
        syntaxes = transfer_syntaxes()
        answers, refused, granted = [], set(), False
        for proposal in request.proposals:
            needs = self._permission(request, proposal.abstract_syntax)
            usable = ENCODABLE if proposal.abstract_syntax in self.served else syntaxes
            syntax = next((s for s in proposal.transfer_syntaxes if s in usable), "")
            if needs and needs not in permitted:
                refused.add(needs)
                result = USER_REJECTION
            elif needs is None:
                result = acceptor.ABSTRACT_NOT_SUPPORTED
            elif not syntax:
                result = acceptor.TRANSFER_NOT_SUPPORTED
            else:
                result = acceptor.ACCEPTED
                granted |= bool(needs)
            answers.append(ContextAnswer(proposal.context_id, result, syntax))
        if refused:
            self.sink(
                {
                    "event": "contexts-declined" if granted else "access-refused",
                    "calling": request.calling,
                    "called": request.called,
                    "peer": peer,
                    "service": ",".join(sorted(refused)),
                    "reason": f"{request.calling!r} may not {' or '.join(sorted(refused))} here",
                }
            )
        return answers

    def _permission(self, request: AssociationRequest, sop_class: str) -> str | None:
        """The permission a context for ``sop_class`` needs ('' none), None if we do not
        provide it. A storage context on which the peer takes the SCP role carries C-GET's
        sub-operations: retrieving is enough for it."""
        if sop_class == VERIFICATION:
            return ""
        if sop_class in self.served:
            return self.served[sop_class]
        if is_storage_class(sop_class, accept_private=self.settings.accept_private):
            if request.may_act_as_scp(sop_class) and request.roles[sop_class][0] == 0:
                return RETRIEVE
            return STORE
        return None


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
