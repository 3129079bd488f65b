"""A TLS handshake that always ends in a transcript: who, how, with which certificates, and
why it failed when it did.

Light to import: the peer's certificates are read without cryptography (``certificate_facts``;
cryptography only for what that leaves, or to explain a failure), so neither a TLS
connection's first byte nor its success path waits for that import.
"""

from __future__ import annotations

import _ssl
import datetime as dt
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from desktop.core import opening
from desktop.security import certificate_facts
from desktop.security.certificate_facts import CertificateInfo
from desktop.security.diagnosis import (
    NOT_TLS_REASONS,
    Diagnosis,
    Facts,
    diagnose,
    diagnose_client,
    weak_certificate,
)
from desktop.security.tls import RULES, Profile

ALERT_WAIT = 1.0  # seconds to wait for a TLS 1.3 server's verdict on our certificate
#: Seconds the plain-DICOM probe waits after a failed handshake: a DICOM service answers an
#: A-ASSOCIATE-RQ at once, and a silent peer already cost the whole handshake timeout.
PROBE_WAIT = 3.0


@dataclass(slots=True)
class Transcript:
    """Everything about one TLS connection attempt, successful or not."""

    role: str  # "client" or "server"
    peer: str
    profile: str
    started: str
    local: str = ""
    server_name: str = ""
    protocol: str = ""
    cipher: str = ""
    peer_chain: list[CertificateInfo] = field(default_factory=list)
    hostname_check: str = "not applicable"  # passed, failed, disabled, not reached, pending
    duration_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.diagnosis is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "role": self.role,
            "local": self.local,
            "peer": self.peer,
            "server_name": self.server_name,
            "profile": self.profile,
            "started": self.started,
            "protocol": self.protocol,
            "cipher": self.cipher,
            "peer_chain": [c.as_json() for c in self.peer_chain],
            "hostname_check": self.hostname_check,
            "duration_ms": round(self.duration_ms, 1),
            "warnings": self.warnings,
            "error": self.error,
            "diagnosis": None
            if self.diagnosis is None
            else {
                "code": self.diagnosis.code,
                "summary": self.diagnosis.summary,
                "advice": self.diagnosis.advice,
            },
        }

    def lines(self) -> list[str]:
        """The transcript as text, one fact a line."""
        head = "TLS OK" if self.ok else "TLS FAILED"
        lines = [
            f"{head}: {self.local or 'us'} -> {self.peer} ({self.role}, profile "
            f"{self.profile}, {self.duration_ms:.0f} ms)"
        ]
        if self.protocol:
            lines.append(f"  protocol {self.protocol}, cipher {self.cipher}")
        if self.server_name:
            lines.append(f"  server name {self.server_name}: hostname check {self.hostname_check}")
        for depth, info in enumerate(self.peer_chain):
            lines += [
                f"  peer certificate {depth}: {info.subject}",
                f"    issuer {info.issuer}, serial {info.serial}",
                f"    valid {info.not_before:%Y-%m-%d} to {info.not_after:%Y-%m-%d}, "
                f"{info.key_type} {info.key_bits}",
                f"    SHA-256 {info.fingerprint}",
            ]
            if info.subject_alt_names:
                lines.append(f"    names {', '.join(info.subject_alt_names)}")
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.diagnosis:
            lines += [f"  diagnosis: {self.diagnosis.line()}", f"  error: {self.error}"]
        return lines


def peer_chain(connection: ssl.SSLSocket) -> list[CertificateInfo]:
    """The peer's certificates, leaf first (the verified chain where Python exposes it)."""
    chain = _private_chain(connection, "get_verified_chain")
    if chain:
        return chain
    leaf = connection.getpeercert(binary_form=True)
    return _described([leaf] if leaf else [])


def record_session(transcript: Transcript, connection: ssl.SSLSocket) -> None:
    """Fill in what a completed handshake tells: addresses, protocol, cipher, peer chain."""
    transcript.local = _address(connection.getsockname())
    transcript.protocol = connection.version() or ""
    cipher = connection.cipher()
    transcript.cipher = cipher[0] if cipher else ""
    transcript.peer_chain = peer_chain(connection)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How to reach a peer as a TLS client."""

    host: str
    port: int
    profile: Profile = Profile.BCP195_ND
    server_name: str = ""  # what the certificate must name; the host when empty
    check_hostname: bool = True
    sent_identity: bool = False
    our_certificate: str = ""  # the one we present (PEM): diagnoses name its issuer
    timeout: float = 10.0
    # whether (host, port, timeout) answers plain DICOM: net's probe, passed by the
    # composition root; None leaves that question out of diagnoses
    dicom_probe: Callable[[str, int, float], bool] | None = None


def check_tls(settings: ClientSettings, context: ssl.SSLContext) -> Transcript:
    """Connect, complete the handshake, wait briefly for a late rejection, and close."""
    transcript = _new_transcript(settings)
    connection, _ = open_tls(settings, context, transcript)
    if connection is not None:
        await_verdict(connection, settings, transcript)
        connection.close()
    return transcript


def open_tls(
    settings: ClientSettings, context: ssl.SSLContext, transcript: Transcript | None = None
) -> tuple[ssl.SSLSocket | None, Transcript]:
    """A TLS connection to the peer (None on failure) and its transcript."""
    transcript = transcript or _new_transcript(settings)
    start = time.perf_counter()
    try:
        address = (ascii_name(settings.host), settings.port)
        raw = opening.connection(address, settings.timeout)  # a cancel wakes it
    except OSError as error:
        _fail(transcript, error, facts_for(settings, "connect"), start)
        return None, transcript
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection = None
    try:
        connection = context.wrap_socket(
            raw,
            server_hostname=ascii_name(transcript.server_name),
            do_handshake_on_connect=False,
        )
        opening.opened(connection)  # a cancel can shut it down during the handshake
        connection.do_handshake()
    except (ssl.SSLError, OSError) as error:
        (connection or raw).close()
        facts = facts_for(settings)
        if not opening.stopped():  # cancelled: nothing to learn of the peer
            _investigate(error, settings, facts)
        _fail(transcript, error, facts, start)
        return None, transcript
    record_session(transcript, connection)
    transcript.duration_ms = (time.perf_counter() - start) * 1000
    if transcript.hostname_check == "pending":
        transcript.hostname_check = "passed"
    strict = RULES[settings.profile].strict_peer
    problems = certificate_facts.peer_weaknesses(transcript.peer_chain) if strict else []
    if problems:
        connection.close()
        transcript.error = "; ".join(problems)
        transcript.diagnosis = weak_certificate(settings.profile.value, problems[0])
        return None, transcript
    return connection, transcript


def ascii_name(name: str) -> str | bytes:
    """A host name to look up or to check the certificate against, as bytes when ASCII (a
    node's host always is): given a str, getaddrinfo and ssl encode it with the IDNA codec,
    whose import (with stringprep) took ~3 ms on the first byte's path."""
    return name.encode("ascii") if name.isascii() else name


def await_verdict(
    connection: ssl.SSLSocket, settings: ClientSettings, transcript: Transcript
) -> None:
    """With TLS 1.3 the server judges our certificate after our handshake returns: read what
    follows for a short while; an alert or a closed connection is a failure."""
    facts = facts_for(settings, "after-handshake")
    facts.peer_chain = transcript.peer_chain
    connection.settimeout(ALERT_WAIT)
    start = time.perf_counter() - transcript.duration_ms / 1000
    try:
        data = connection.recv(1)
    except TimeoutError:
        return  # silence: the peer waits for our association request, as a DICOM peer does
    except (ssl.SSLError, OSError) as error:
        _fail(transcript, error, facts, start)
        return
    if not data:
        _fail(transcript, ssl.SSLEOFError("the peer closed the connection"), facts, start)


def _new_transcript(settings: ClientSettings) -> Transcript:
    transcript = Transcript(
        role="client",
        peer=f"{settings.host}:{settings.port}",
        profile=settings.profile.value,
        started=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        server_name=settings.server_name or settings.host,
        hostname_check="pending" if settings.check_hostname else "disabled",
    )
    if RULES[settings.profile].warning:
        transcript.warnings.append(RULES[settings.profile].warning)
    if not settings.check_hostname:
        transcript.warnings.append("hostname check turned off for this node")
    return transcript


def facts_for(settings: ClientSettings, stage: str = "handshake") -> Facts:
    """What a diagnosis needs to know about this connection."""
    our_issuer = ""
    if settings.our_certificate:
        from desktop.security.certificates import issuer_of

        our_issuer = issuer_of(settings.our_certificate)
    return Facts(
        settings.host,
        settings.port,
        settings.server_name or settings.host,
        settings.profile.value,
        settings.sent_identity,
        our_issuer,
        settings.timeout,
        stage,
    )


def _investigate(error: BaseException, settings: ClientSettings, facts: Facts) -> None:
    """Gather what explains a failed handshake: the peer's certificates, or plain DICOM."""
    if isinstance(error, ssl.SSLCertVerificationError):
        facts.peer_chain = unverified_chain(settings.host, settings.port, settings.timeout)
        return
    reason = str(getattr(error, "reason", "") or "")
    not_tls = reason in NOT_TLS_REASONS or isinstance(
        error, ConnectionResetError | TimeoutError | socket.timeout | ssl.SSLEOFError
    )
    if not_tls and settings.dicom_probe is not None:
        probing = time.perf_counter()
        wait = min(settings.timeout, PROBE_WAIT)
        facts.plain_dicom = settings.dicom_probe(settings.host, settings.port, wait)
        facts.probed = time.perf_counter() - probing


def unverified_chain(host: str, port: int, timeout: float) -> list[CertificateInfo]:
    """The peer's certificates from a second handshake that verifies nothing and sends nothing:
    used only to explain why the first one was refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw) as connection,
        ):
            return _private_chain(connection, "get_unverified_chain") or peer_chain(connection)
    except (OSError, ssl.SSLError, ValueError):
        return []


def _private_chain(connection: ssl.SSLSocket, method: str) -> list[CertificateInfo]:
    """The whole chain through CPython's private ``_sslobj`` methods (3.10+; public in 3.13)."""
    chain_of = getattr(getattr(connection, "_sslobj", None), method, None)
    if chain_of is None:
        return []
    try:
        chain = chain_of() or ()  # None for a resumed session (stunnel resumes)
        return _described([c.public_bytes(_ssl.ENCODING_DER) for c in chain])
    except (ValueError, ssl.SSLError, AttributeError):
        return []


def _described(chain: list[bytes]) -> list[CertificateInfo]:
    """DER certificates as a person checks them: read by ``certificate_facts`` (hashlib and a
    little DER), by cryptography only for what that leaves (an unusual key, name or
    signature), so a good handshake imports no cryptography beside the transfer it opens."""
    described = []
    for der in chain:
        info = certificate_facts.read(der)
        if info is None:
            from cryptography import x509

            from desktop.security.certificates import describe

            info = describe(x509.load_der_x509_certificate(der))
        described.append(info)
    return described


def _fail(transcript: Transcript, error: BaseException, facts: Facts, start: float) -> None:
    transcript.duration_ms = (time.perf_counter() - start - facts.probed) * 1000  # not the probe
    transcript.error = f"{type(error).__name__}: {error}"
    transcript.diagnosis = diagnose(error, facts)
    if transcript.diagnosis.code == "hostname-mismatch":
        transcript.hostname_check = "failed"
    elif transcript.hostname_check == "pending":
        transcript.hostname_check = "not reached"
    if facts.peer_chain and not transcript.peer_chain:
        transcript.peer_chain = facts.peer_chain


def _address(address: Any) -> str:
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)


def accept_tls(
    raw: socket.socket, context: ssl.SSLContext, profile: Profile, timeout: float = 10.0
) -> tuple[ssl.SSLSocket | None, Transcript]:
    """Our server's side of a handshake on an accepted socket, always with a transcript."""
    peer = _address(raw.getpeername())
    transcript = Transcript(
        role="server",
        peer=peer,
        profile=profile.value,
        started=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        local=_address(raw.getsockname()),
    )
    start = time.perf_counter()
    raw.settimeout(timeout)
    try:
        connection = context.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as error:
        transcript.duration_ms = (time.perf_counter() - start) * 1000
        transcript.error = f"{type(error).__name__}: {error}"
        transcript.diagnosis = diagnose_client(error, peer)
        raw.close()
        return None, transcript
    connection.settimeout(None)
    record_session(transcript, connection)
    transcript.duration_ms = (time.perf_counter() - start) * 1000
    return connection, transcript
