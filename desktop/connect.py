"""Composition: how a configured node becomes a connection for the network layer.

The only module that brings security (TLS contexts, transcripts, diagnoses) and net together,
so that neither imports the other.
"""

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from desktop import auditing
from desktop.core import opening
from desktop.core.config import Node
from desktop.core.errors import CourierError
from desktop.net.link import Connector, Failure, Link, LinkError, tune
from desktop.security.diagnosis import (
    Diagnosis,
    Facts,
    closed,
    diagnose,
    plain_peer_closed,
    plain_to_tls_port,
)
from desktop.security.errors import KeystoreError, PasswordError
from desktop.security.handshake import (
    ClientSettings,
    accept_tls,
    ascii_name,
    facts_for,
    open_tls,
)
from desktop.security.keystore import Keystore
from desktop.security.probe import speaks_tls
from desktop.security.revocation import check_revocation, crls_pem
from desktop.security.tls import Profile, client_context, server_context

if TYPE_CHECKING:  # the storage SCP (and pynetdicom) load only for commands that listen
    from desktop.net.scp import TlsAcceptor
    from desktop.security.keystore import TlsIdentity

log = logging.getLogger(__name__)
#: A connection opened ahead is used only this young: a peer may close one that sends no
#: A-ASSOCIATE-RQ for a while (our listener allows 5 s from accept, TLS included).
FRESH_SECONDS = 2.0

#: Failures that may pass by themselves: worth a retry later.
TRANSIENT = frozenset(
    {"connection-refused", "timeout", "peer-closed", "tls-failure", "connection-lost"}
)


def as_failure(diagnosis: Diagnosis) -> Failure:
    return Failure(diagnosis.code, diagnosis.line(), diagnosis.code in TRANSIENT)


def node_connector(node: Node, keystore: Keystore) -> Connector:
    """Connections to ``node``: TLS with its profile and identity, or plain TCP."""
    return _tls_connector(node, keystore) if node.tls else _plain_connector(node)


def tls_client(
    keystore: Keystore,
    host: str,
    port: int,
    profile: Profile,
    *,
    identity: str = "",
    server_name: str = "",
    check_hostname: bool = True,
    timeout: float = 10.0,
    system_store: bool = False,
) -> tuple[ssl.SSLContext, ClientSettings]:
    """The client side of TLS to a peer, for every caller (send, echo, find, the TLS check, CLI
    and GUI): the context (trusted CAs, our identity unlocked) and the settings transcripts and
    diagnoses need, our certificate included."""
    made = _context_made(
        keystore, profile, identity, check_hostname=check_hostname, system_store=system_store
    )
    context, presented = _MADE_AHEAD.pop(made, None) or made.context(), made.presented
    settings = ClientSettings(
        host,
        port,
        profile,
        server_name=server_name,
        check_hostname=check_hostname,
        sent_identity=presented is not None,
        our_certificate=presented.certificate if presented else "",
        timeout=timeout,
        dicom_probe=_speaks_plain_dicom,
    )
    return context, settings


@dataclass(frozen=True)
class _ContextMade:
    """What a client context is made of: equal ones make the same context."""

    profile: Profile
    trusted_pem: str
    crls: bytes
    identity: tuple[str, ...]  # its name, certificate and chain: the certificate names the key
    check_hostname: bool
    system_store: bool
    presented: "TlsIdentity | None" = field(compare=False)

    def context(self) -> ssl.SSLContext:
        context = client_context(
            self.profile,
            self.trusted_pem,
            self.presented,
            check_hostname=self.check_hostname,
            system_store=self.system_store,
        )
        check_revocation(context, self.crls)
        return context


#: Client contexts made ahead, each taken once by the connector it was made for.
_MADE_AHEAD: dict[_ContextMade, ssl.SSLContext] = {}


def make_ahead(node: Node, keystore: Keystore) -> ssl.SSLContext:
    """Make ``node``'s client context now, for this process's next connector to it: a warm
    service's spare child does, before it is handed a command (the CAs parsed and the
    identity's key loaded: ~5 ms of the command's path). The connector takes it only while
    the CAs, CRLs, identity and settings are still those it was made of; nothing connects,
    nothing is recorded."""
    _MADE_AHEAD.clear()  # one: the next command's
    made = _context_made(
        keystore,
        Profile(node.profile),
        node.identity,
        check_hostname=node.check_hostname,
        system_store=False,
    )
    context = _MADE_AHEAD[made] = made.context()
    return context


def _context_made(
    keystore: Keystore,
    profile: Profile,
    identity: str,
    *,
    check_hostname: bool,
    system_store: bool,
) -> _ContextMade:
    """What a client context with ``identity`` (unlocked: audited) would be made of now."""
    presented = auditing.unlock_for_tls(keystore, identity) if identity else None
    named = () if presented is None else (presented.name, presented.certificate, *presented.chain)
    return _ContextMade(
        profile,
        keystore.trusted_pem(),
        crls_pem(keystore),
        named,
        check_hostname,
        system_store,
        presented,
    )


def node_tls(node: Node, keystore: Keystore) -> tuple[ssl.SSLContext, ClientSettings]:
    """``tls_client`` for a configured node."""
    return tls_client(
        keystore,
        node.host,
        node.port,
        Profile(node.profile),
        identity=node.identity,
        server_name=node.server_name,
        check_hostname=node.check_hostname,
        timeout=node.connect_timeout,
    )


def _speaks_plain_dicom(host: str, port: int, timeout: float) -> bool:
    """net's probe, imported when a failed handshake asks: the DICOM code can load after a
    connection's first byte."""
    from desktop.net.probe import speaks_plain_dicom

    return speaks_plain_dicom(host, port, timeout)


#: A connection stopped on our side (a cancel, a listener's stop) before the peer answered.
STOPPED = Failure("cancelled", "stopped before the peer answered", False)


def _tls_connector(node: Node, keystore: Keystore) -> Connector:
    context, settings = node_tls(node, keystore)

    def connect() -> Link:
        connection, transcript = open_tls(settings, context)
        if connection is None:
            assert transcript.diagnosis is not None
            if opening.stopped():  # a cancel (a listener's stop) is not the peer's failure
                raise LinkError(STOPPED, transcript.as_json())
            auditing.handshake(transcript.as_json(), node=node.name, ae_title=node.ae_title)
            raise LinkError(as_failure(transcript.diagnosis), transcript.as_json())
        connection.settimeout(node.network_timeout)
        return Link(connection, transcript.as_json(), _explainer(settings, node))

    return connect


class ConnectingAhead:
    """A node's connector made on a thread (the identity unlocked: PBKDF2 and OpenSSL leave
    the GIL), which also opens the first connection (TCP and TLS handshake) at once, while the
    caller reads its media and queues its job.

    ``ready()`` gives the connector, raising what making it raised (a wrong password, a damaged
    identity): call it before queuing anything. The first call of the connector takes the
    connection opened ahead, or its failure, when younger than ``fresh`` seconds; every other
    call, or an older one, connects anew. ``close()`` closes a connection never taken.
    """

    def __init__(self, node: Node, keystore: Keystore, *, fresh: float = FRESH_SECONDS) -> None:
        self._node, self._keystore, self._fresh = node, keystore, fresh
        if node.tls and node.identity:
            # on the caller's thread, where a person may type it; no keystore yet: the
            # unlock says so (and audits it)
            with suppress(PasswordError):
                keystore.take_password()
        self._connector: Connector | None = None
        self._problem: BaseException | None = None
        self._first: tuple[float, Link | None, LinkError | None] | None = None
        self._closed = False
        self._opened: list[socket.socket] = []  # by the thread, for a cancel of the caller's
        self._watch: opening.Watch | None = None
        self._made = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._prepare, name="connecting-ahead", daemon=True)
        self._thread.start()

    def _prepare(self) -> None:
        try:
            self._connector = node_connector(self._node, self._keystore)
        except BaseException as error:  # handed to the caller's thread by ready()
            self._problem = error
            return
        finally:
            self._made.set()
        try:
            with opening.watching(opening.Watch(self._opened_ahead, self._stopped)):
                link: Link | None = self._connector()
            failure = None
        except LinkError as error:
            link, failure = None, error
        except Exception as error:  # a connector's bug: connect() raises it again on its thread
            log.debug("connecting ahead to %s failed", self._node.name, exc_info=error)
            return
        with self._lock:
            if not self._closed:
                self._first = (time.monotonic(), link, failure)
                return
        if link is not None:  # closed meanwhile: no one will take it
            link.sock.close()

    def _opened_ahead(self, sock: socket.socket) -> None:
        with self._lock:
            self._opened.append(sock)
            watch = self._watch
        if watch is not None:
            watch.adopt(sock)

    def _stopped(self) -> bool:
        return self._watch is not None and self._watch.stopped()

    def _hand_on(self) -> None:
        """The caller's watch (a cancel) gets the connection opened ahead, even while its
        handshake still waits on the peer."""
        watch = opening.current()
        if watch is None:
            return
        with self._lock:
            self._watch, opened = watch, list(self._opened)
        for sock in opened:
            watch.adopt(sock)

    def ready(self) -> Connector:
        """The connector, once made (this object: its first call takes the link opened)."""
        self._made.wait()
        if self._problem is not None:
            raise self._problem
        return self

    def __call__(self) -> Link:
        self.ready()
        self._hand_on()
        self._thread.join()
        with self._lock:
            first, self._first = self._first, None
        if first is not None:
            opened, link, failure = first
            if time.monotonic() - opened < self._fresh:
                if failure is not None:
                    raise failure
                assert link is not None
                return link
            if link is not None:
                link.sock.close()
        assert self._connector is not None
        return self._connector()

    def close(self) -> None:
        """Close the connection opened ahead if no one took it (at once, or as soon as it is
        open: a failed command does not wait for a slow peer)."""
        with self._lock:
            self._closed = True
            first, self._first = self._first, None
        if first is not None and first[1] is not None:
            first[1].sock.close()


def _explainer(settings: ClientSettings, node: Node) -> Callable[[BaseException], Failure]:
    """Errors after the handshake, such as a TLS 1.3 rejection of our certificate."""

    def explain(error: BaseException) -> Failure:
        facts = facts_for(settings, "after-handshake")
        diagnosis = diagnose(error, facts)
        auditing.refused_after_handshake(diagnosis, node, f"{facts.host}:{facts.port}")
        return as_failure(diagnosis)

    return explain


def _plain_connector(node: Node) -> Connector:
    facts = Facts(
        node.host,
        node.port,
        node.host,
        "none",
        False,
        timeout=node.connect_timeout,
        stage="connect",
    )

    def explain(error: BaseException) -> Failure:
        if speaks_tls(node.host, node.port, node.connect_timeout):
            return as_failure(plain_to_tls_port(node.host, node.port))
        if closed(error):  # no TLS here: not a handshake the peer dropped
            return as_failure(plain_peer_closed(node.host, node.port, node.calling_ae_title))
        return as_failure(diagnose(error, facts))

    def connect() -> Link:
        try:
            address = (ascii_name(node.host), node.port)
            sock = opening.connection(address, node.connect_timeout)  # a cancel wakes it
        except OSError as error:
            if opening.stopped():
                raise LinkError(STOPPED) from error
            raise LinkError(as_failure(diagnose(error, facts))) from error
        tune(sock)
        sock.settimeout(node.network_timeout)
        return Link(sock, {"tls": False, "peer": f"{node.host}:{node.port}"}, explain)

    return connect


def listener_tls(
    keystore: Keystore, identity: str, profile: Profile
) -> tuple[ssl.SSLContext, "TlsAcceptor"]:
    """Our SCP's TLS: present ``identity``, require and verify client certificates. A failed
    handshake reaches the listener's sink (``auditing.listener`` audits it) a few times a
    minute per peer, and not for a connection the listener closed itself."""
    from desktop.security.policy import serving_refusal

    def build() -> ssl.SSLContext:
        presented = auditing.unlock_for_tls(keystore, identity)
        context = server_context(profile, keystore.trusted_pem(), presented)
        check_revocation(context, crls_pem(keystore))
        refused = serving_refusal(identity, keystore.identity(identity).certificate)
        if refused:  # before anything listens: every peer would refuse it as a server
            raise KeystoreError(refused)
        return context

    renewed = Renewed(build, keystore)

    def accept(raw: socket.socket, timeout: float) -> tuple[ssl.SSLSocket | None, dict[str, Any]]:
        try:
            context = renewed.current()
        except CourierError as error:  # the keystore changed and cannot serve: nobody in
            return None, _unserved(raw, profile, error)
        connection, transcript = accept_tls(raw, context, profile, timeout)
        return connection, transcript.as_json()  # audited by the listener's sink, rate-limited

    return renewed.context, accept


class Renewed:
    """A TLS context built again from the keystore when its CAs, CRLs or identities change on
    disk (``Keystore.trust_state``), for the next connection: a CRL imported, a CA removed
    while a listener or the GUI runs applies at once, as an edited access list does."""

    def __init__(self, build: Callable[[], ssl.SSLContext], keystore: Keystore) -> None:
        self._build, self._keystore = build, keystore
        self._lock = threading.Lock()
        self._state = keystore.trust_state()
        self.context = build()

    def current(self) -> ssl.SSLContext:
        """The context for the keystore as it is now (CourierError: it cannot be built)."""
        state = self._keystore.trust_state()
        with self._lock:
            if state != self._state:
                self.context = self._build()
                self._state = state
                log.info("the keystore changed: TLS set up again from it")
            return self.context


def _unserved(raw: socket.socket, profile: Profile, error: CourierError) -> dict[str, Any]:
    """The transcript of a connection refused before its handshake: our TLS could not be
    set up again from the changed keystore."""
    import datetime as dt

    from desktop.security.handshake import Transcript

    try:
        peer = "{}:{}".format(*raw.getpeername()[:2])
    except OSError:
        peer = "?"
    raw.close()
    transcript = Transcript("server", peer, profile.value, dt.datetime.now(dt.UTC).isoformat())
    transcript.error = str(error)
    transcript.diagnosis = Diagnosis(
        "keystore-unusable",
        f"Refused: our TLS could not be set up again after the keystore changed: {error}",
        "Repair the keystore (dicom-courier keystore list); the next connection uses it",
    )
    return transcript.as_json()
