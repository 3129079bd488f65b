"""tls-check against a port that accepts and never answers (F14.2): the transcript said
'did not complete the TLS handshake within 10 s' over a duration of 20 s, the plain-DICOM
probe that follows a failed handshake counted in it and waiting a whole timeout again."""

import socket
import threading
import time

from cryptography.hazmat.primitives.serialization import Encoding

from desktop.net.probe import speaks_plain_dicom
from desktop.security.handshake import ClientSettings, check_tls
from desktop.security.tls import Profile, client_context
from tests.peers import LOOPBACK, python_tls_server
from tests.pki import Pki


def test_the_transcript_times_the_handshake_and_the_probe_is_bounded(pki: Pki) -> None:
    trusted = pki.root.certificate.public_bytes(Encoding.PEM).decode()
    context = client_context(Profile.BCP195_ND, trusted, pki.unlocked(pki.client))
    waits: list[float] = []

    def probe(host: str, port: int, timeout: float) -> bool:
        waits.append(timeout)
        return speaks_plain_dicom(host, port, timeout)  # the real probe, on the silent port

    with python_tls_server(None) as port:
        settings = ClientSettings(LOOPBACK, port, sent_identity=True, timeout=1, dicom_probe=probe)
        started = time.monotonic()
        transcript = check_tls(settings, context)
        took = time.monotonic() - started
    assert transcript.diagnosis is not None
    assert "did not complete the TLS handshake within 1 s" in transcript.diagnosis.summary
    assert waits == [1]  # the probe ran, after the handshake's second
    assert 1000 <= transcript.duration_ms < 1500 < took * 1000  # the handshake's time alone
    assert f"{transcript.duration_ms:.0f} ms)" in transcript.lines()[0]


def test_the_probe_waits_three_seconds_at_most(pki: Pki) -> None:
    """A node with a long timeout: the probe after a failed handshake still waits 3 s at most
    (here a port that accepts and closes at once, which fails the handshake straight away)."""
    trusted = pki.root.certificate.public_bytes(Encoding.PEM).decode()
    context = client_context(Profile.BCP195_ND, trusted, pki.unlocked(pki.client))
    waits: list[float] = []

    def probe(host: str, port: int, timeout: float) -> bool:
        waits.append(timeout)
        return speaks_plain_dicom(host, port, timeout)

    with socket.create_server((LOOPBACK, 0)) as listener:
        stop = threading.Event()

        def close_each() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    listener.accept()[0].close()
                except TimeoutError:
                    continue

        closer = threading.Thread(target=close_each, daemon=True)
        closer.start()
        port = listener.getsockname()[1]
        settings = ClientSettings(LOOPBACK, port, timeout=60, dicom_probe=probe)
        transcript = check_tls(settings, context)
        stop.set()
        closer.join(5)
    assert transcript.diagnosis is not None and waits == [3.0]  # handshake.PROBE_WAIT
