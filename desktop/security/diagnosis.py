"""Turning a failed connection into plain words and what to do about it.

``diagnose`` is pure: the handshake code gathers the facts (the error, the peer's certificates
read by a second, unverified handshake, whether the port speaks plain DICOM) and this module
explains them. Light to import (cryptography loads only to explain a certificate): every
TLS connection imports it before its first byte.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desktop.core.shown import shown

if TYPE_CHECKING:
    from desktop.security.certificate_facts import CertificateInfo

# OpenSSL certificate verification codes (X509_V_ERR_*).
UNTRUSTED_CODES = frozenset({2, 18, 19, 20, 21, 27})
#: The issuer of the last certificate sent is neither sent nor trusted (not self-signed).
ISSUER_NOT_FOUND_CODES = frozenset({2, 20, 21})
EXPIRED, NOT_YET_VALID, REVOKED, WRONG_PURPOSE = 10, 9, 23, 26
NO_CRL, CRL_EXPIRED = 3, 12
WEAK_CODES = frozenset({66, 67, 68})  # key too small (leaf, CA), signature digest too weak
NAME_MISMATCH_CODES = frozenset({62, 64})
#: The peer answered with bytes that are no TLS record (plain DICOM, once the probe has
#: said it is not that: a web server's "HTTP/1.1 400").
ANSWERED_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL"})
NOT_TLS_REASONS = ANSWERED_NOT_TLS_REASONS | frozenset(
    {
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "UNEXPECTED_EOF_WHILE_READING",
        "HTTP_REQUEST",
    }
)
VERSION_REASONS = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "WRONG_SSL_VERSION",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
    }
)
CIPHER_REASONS = frozenset(
    {
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "NO_SUITABLE_SIGNATURE_ALGORITHM",
    }
)
REJECTED_REASONS = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV1_ALERT_DECRYPT_ERROR",
    }
)

#: A client's alert refusing our server certificate, in plain words.
OUR_CERTIFICATE_REFUSED = {
    "TLSV1_ALERT_UNKNOWN_CA": "it does not trust the CA that issued it",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "it finds it expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "it finds it revoked",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "unsupported certificate (not for a server's use)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "it finds it bad (damaged, or its signature does not check)",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "it cannot check it",
    "TLSV1_ALERT_DECRYPT_ERROR": "our proof of holding its key did not check",
}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A failure in plain words: a stable code, what happened, and what to do."""

    code: str
    summary: str
    advice: str

    def __post_init__(self) -> None:
        # They name certificates and hosts, the peer's words: shown, never obeyed by a terminal.
        object.__setattr__(self, "summary", shown(self.summary))
        object.__setattr__(self, "advice", shown(self.advice))

    def line(self) -> str:
        return f"{self.summary}. {self.advice}"


@dataclass(slots=True)
class Facts:
    """What is known about a failed connection besides the error itself."""

    host: str
    port: int
    server_name: str
    profile: str
    sent_identity: bool
    our_issuer: str = ""
    timeout: float = 10.0
    stage: str = "handshake"  # "connect", "handshake" or "after-handshake"
    peer_chain: list[CertificateInfo] = field(default_factory=list)
    plain_dicom: bool | None = None
    probed: float = 0.0  # seconds spent finding out plain_dicom (not the handshake's time)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def diagnose(error: BaseException, facts: Facts) -> Diagnosis:
    """The diagnosis for ``error`` met while connecting as a TLS client."""
    where = f"{facts.host}:{facts.port}"
    if isinstance(error, socket.gaierror):
        return _unresolved(facts.host, error)
    if isinstance(error, ConnectionRefusedError):
        return Diagnosis(
            "connection-refused",
            f"Connection refused by {where}",
            "Nothing listens on that port: check the port number, that the peer's "
            "DICOM service is running and that no firewall rejects us",
        )
    if facts.plain_dicom:
        return Diagnosis(
            "plain-dicom-port",
            f"{where} speaks plain DICOM, not TLS",
            "Use the peer's TLS port (often 2762), or turn TLS off for this node "
            "only if the network link is protected otherwise",
        )
    if isinstance(error, TimeoutError | socket.timeout):
        return _timeout(facts, where)
    if isinstance(error, ssl.SSLCertVerificationError):
        return _verification(error, facts)
    reason = getattr(error, "reason", None) or ""
    return _by_reason(str(reason), error, facts, where)


def _unresolved(host: str, error: socket.gaierror) -> Diagnosis:
    """The name of the peer did not resolve to an address: nothing was sent, TLS or not."""
    return Diagnosis(
        "host-not-found",
        f"The host name {host} could not be resolved ({error.strerror})",
        "Check the node's host name for typing errors, and this computer's network "
        "and DNS settings",
    )


def _timeout(facts: Facts, where: str) -> Diagnosis:
    if facts.stage == "connect":
        return Diagnosis(
            "timeout",
            f"No answer from {where} within {facts.timeout:g} s",
            "Check the host name and port, and that firewalls or a VPN let the connection through",
        )
    return Diagnosis(
        "timeout",
        f"{where} accepted the connection but did not complete the TLS "
        f"handshake within {facts.timeout:g} s",
        "The port may belong to another service; check the peer's TLS port",
    )


def _unsent_chain(top: CertificateInfo | None, code: int) -> str:
    """The usual cause when the last certificate a server sent is not self-signed and its
    issuer is unknown: the server sends no intermediate CA (a certificate file holding the
    leaf alone), which importing that CA only hides."""
    if top is None or code not in ISSUER_NOT_FOUND_CODES or top.issuer == top.subject:
        return ""
    return (
        f"; but first ask whether the server sends its intermediate CA (the chain it sent "
        f"ends at {top.subject}): if not, its administrator should install the full chain"
    )


def _verification(error: ssl.SSLCertVerificationError, facts: Facts) -> Diagnosis:
    code = error.verify_code
    leaf = facts.peer_chain[0] if facts.peer_chain else None
    subject = leaf.subject if leaf else "the server's certificate"
    if code in UNTRUSTED_CODES:
        top = facts.peer_chain[-1] if facts.peer_chain else None
        issuer = top.issuer if top else "unknown"
        return Diagnosis(
            "untrusted-server-ca",
            f"The server's certificate ({subject}) comes from a CA we do not trust "
            f"(issuer: {issuer})",
            "Import the CA that issued it (keystore import-ca FILE) after checking "
            "its fingerprint with the peer's administrator" + _unsent_chain(top, code),
        )
    if code in (EXPIRED, NOT_YET_VALID):
        return _dates(code, facts, subject)
    if code in NAME_MISMATCH_CODES:
        names = ", ".join(leaf.subject_alt_names) if leaf and leaf.subject_alt_names else "no names"
        return Diagnosis(
            "hostname-mismatch",
            f"The server's certificate is not valid for {facts.server_name!r}: it names {names}",
            "Connect with a name the certificate lists, set the node's server name "
            "to one of them, or turn off the hostname check for this node if the "
            "peer cannot be fixed",
        )
    if code == WRONG_PURPOSE:
        return Diagnosis(
            "server-cert-wrong-usage",
            f"The server's certificate ({subject}) is not made for TLS servers (it "
            "lacks the serverAuth extended key usage)",
            "The peer's administrator must install a server certificate",
        )
    if code in WEAK_CODES:
        from desktop.security.certificate_facts import peer_weaknesses

        problems = peer_weaknesses(facts.peer_chain) or [error.verify_message]
        return weak_certificate(facts.profile, problems[0])
    if code == REVOKED:
        return Diagnosis(
            "server-cert-revoked",
            f"The server's certificate ({subject}) is revoked",
            "Do not connect; tell the peer's administrator",
        )
    if code in (NO_CRL, CRL_EXPIRED):
        return missing_crl(code, "the server's certificate")
    return Diagnosis(
        "server-cert-invalid",
        f"The server's certificate was refused: {error.verify_message}",
        "Ask the peer's administrator to check the certificate and its chain",
    )


def weak_certificate(profile: str, problem: str) -> Diagnosis:
    """The peer's certificates are too weak for the chosen profile."""
    return Diagnosis(
        "weak-peer-certificate",
        f"The peer's certificates are too weak for profile {profile}: {problem}",
        "The peer's administrator must install a certificate with an RSA key of "
        "2048 bits or more (or EC 256+), signed with SHA-256 or better",
    )


def _dates(code: int, facts: Facts, subject: str) -> Diagnosis:
    expired = code == EXPIRED
    culprit = next(
        (
            c
            for c in facts.peer_chain
            if (facts.now > c.not_after if expired else facts.now < c.not_before)
        ),
        None,
    )
    name = culprit.subject if culprit else subject
    if expired:
        when = f" on {culprit.not_after:%Y-%m-%d %H:%M} UTC" if culprit else ""
        return Diagnosis(
            "server-cert-expired",
            f"The server's certificate {name} expired{when}",
            "The peer's administrator must renew it",
        )
    when = f" before {culprit.not_before:%Y-%m-%d %H:%M} UTC" if culprit else " yet"
    return Diagnosis(
        "server-cert-not-yet-valid",
        f"The server's certificate {name} is not valid{when}",
        "Check this computer's clock; if it is right, the peer installed a certificate too early",
    )


def _by_reason(reason: str, error: BaseException, facts: Facts, where: str) -> Diagnosis:
    our_ca = f" ({facts.our_issuer})" if facts.our_issuer else ""
    if (
        reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
        or (not facts.sent_identity and reason == "SSLV3_ALERT_HANDSHAKE_FAILURE")
        or (not facts.sent_identity and closed(error) and facts.stage == "after-handshake")
    ):
        return Diagnosis(
            "client-cert-required",
            "The peer requires a client certificate and we sent none",
            "Bind an identity to this node (or pass --identity NAME)",
        )
    if reason == "TLSV1_ALERT_UNKNOWN_CA":
        return Diagnosis(
            "client-cert-unknown-ca",
            f"The peer rejected our certificate: it does not trust the CA that issued it{our_ca}",
            "Give the peer's administrator our CA certificate (keystore "
            "export-cert), or use an identity from a CA the peer trusts",
        )
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        return Diagnosis(
            "client-cert-expired",
            "The peer rejected our certificate as expired",
            "Renew our identity and import the new one",
        )
    if reason == "SSLV3_ALERT_CERTIFICATE_REVOKED":
        return Diagnosis(
            "client-cert-revoked",
            "The peer rejected our certificate as revoked",
            "Ask the CA for a new identity",
        )
    if reason in REJECTED_REASONS:
        return Diagnosis(
            "client-cert-rejected",
            f"The peer rejected our certificate ({reason})",
            "Check with the peer's administrator what it expects of clients",
        )
    if reason in VERSION_REASONS:
        return Diagnosis(
            "protocol-mismatch",
            f"{where} and we share no TLS version (profile {facts.profile})",
            "If the peer only speaks TLS 1.0/1.1 (older Orthanc or DCMTK), choose "
            "the legacy profile bcp195 for this node, or better, upgrade the peer",
        )
    if reason in CIPHER_REASONS or reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
        return Diagnosis(
            "no-shared-cipher",
            f"{where} and we share no cipher suite (profile {facts.profile})",
            "An ECDSA server certificate over TLS 1.2 needs profile bcp195-rfc8996;"
            " otherwise compare the peer's cipher settings with the profile's",
        )
    if reason in ANSWERED_NOT_TLS_REASONS:
        return Diagnosis(
            "not-tls",
            f"{where} answered, but neither in TLS nor in DICOM",
            "Another kind of service (a web server, a proxy?) listens on that port: check "
            "the port number with the peer's administrator",
        )
    if reason in NOT_TLS_REASONS or closed(error):
        return Diagnosis(
            "peer-closed",
            f"{where} closed the connection during the TLS handshake without saying why",
            "It may not speak TLS on this port, or it refuses our address; the "
            "peer's log says which",
        )
    return Diagnosis(
        "tls-failure",
        f"The TLS handshake with {where} failed: {error}",
        "Check the peer's log for the other side of this failure",
    )


def closed(error: BaseException) -> bool:
    """Whether ``error`` is the peer closing the connection without a word."""
    return isinstance(error, ConnectionResetError | BrokenPipeError | ssl.SSLEOFError | EOFError)


def plain_peer_closed(host: str, port: int, calling_ae_title: str) -> Diagnosis:
    """A plain DICOM peer (its port speaks no TLS) closed the connection without an
    A-ASSOCIATE-RJ or an A-ABORT: how a PACS refuses a caller it does not know."""
    return Diagnosis(
        "peer-closed",
        f"{host}:{port} closed the connection without answering (no A-ASSOCIATE-RJ, no A-ABORT)",
        f"It may not know our AE title {calling_ae_title} or our address (many archives "
        "refuse unknown callers so): check that it lists us; the peer's log says why",
    )


def missing_crl(code: int, whose: str) -> Diagnosis:
    """Revocation is checked (CRLs imported) but the issuer's CRL is missing or out of date."""
    if code == CRL_EXPIRED:
        return Diagnosis(
            "crl-expired",
            f"The revocation list for {whose} is out of date",
            "Import the CA's current CRL (keystore import-crl FILE)",
        )
    return Diagnosis(
        "crl-missing",
        f"Revocation is checked, but the keystore holds no revocation list from the CA "
        f"that issued {whose}",
        "Import that CA's CRL (keystore import-crl FILE)",
    )


def plain_to_tls_port(host: str, port: int) -> Diagnosis:
    """For a plain DICOM connection that failed on a port that speaks TLS."""
    return Diagnosis(
        "tls-port",
        f"{host}:{port} speaks TLS, but this node is set up for plain DICOM",
        "Turn TLS on for this node and bind an identity to it",
    )


def diagnose_client(error: BaseException, peer: str) -> Diagnosis:
    """Why a client's handshake with our server failed."""
    reason = str(getattr(error, "reason", "") or "")
    if isinstance(error, TimeoutError | socket.timeout):
        return Diagnosis(
            "timeout",
            f"{peer} connected but sent no TLS handshake in time",
            "An idle or stray connection; nothing to do unless it repeats",
        )
    if reason in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED"):
        return Diagnosis(
            "client-cert-missing",
            f"{peer} sent no client certificate",
            "The client must present an identity from a CA we trust",
        )
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_code == REVOKED:
        return Diagnosis(
            "client-cert-revoked",
            f"{peer}'s certificate is revoked: its CA's revocation list names it",
            "Refuse this client; it needs a new certificate from its CA",
        )
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_code in (
        NO_CRL,
        CRL_EXPIRED,
    ):
        return missing_crl(error.verify_code, f"{peer}'s certificate")
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_code in UNTRUSTED_CODES:
        return Diagnosis(
            "client-cert-untrusted",
            f"{peer}'s certificate is not issued by a CA we trust [{error.verify_message}]",
            "Import the CA that issued it (keystore import-ca), if it is to be trusted",
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return Diagnosis(
            "client-cert-refused",
            f"{peer}'s certificate was refused: {error.verify_message}",
            "Import the CA that issued it, or ask the client for a valid certificate",
        )
    if reason in OUR_CERTIFICATE_REFUSED:
        return Diagnosis(
            "server-cert-refused",
            f"{peer} refused our certificate: {OUR_CERTIFICATE_REFUSED[reason]} [{reason}]",
            "Give the client's administrator our CA certificate (keystore export-cert), or "
            "listen with an identity it accepts (a server certificate with serverAuth)",
        )
    if reason in NOT_TLS_REASONS:
        return Diagnosis(
            "plain-client",
            f"{peer} does not speak TLS (plain DICOM on our TLS port?)",
            "Turn TLS on in the client's settings for this node",
        )
    if reason in VERSION_REASONS:
        return Diagnosis(
            "protocol-mismatch",
            f"{peer} offered no TLS version we accept: a protocol mismatch [{reason}]",
            "The client must support TLS 1.2 or 1.3",
        )
    if reason in CIPHER_REASONS:
        return Diagnosis(
            "no-shared-cipher",
            f"{peer} offered no cipher suite we accept: a cipher mismatch [{reason}]",
            "Compare the client's cipher settings with our profile",
        )
    return Diagnosis(
        "tls-failure",
        f"the TLS handshake with {peer} failed: {error}",
        "The client's log has the other side of this failure",
    )
