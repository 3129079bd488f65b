"""A plain DICOM peer that closes the connection after our association request, without an
A-ASSOCIATE-RJ (how many archives refuse a caller they do not know) is said so: not "closed
the connection during the TLS handshake", there was no TLS (tester's G15)."""

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cli, node_add


@pytest.fixture
def closer() -> Iterator[int]:
    """A port that reads what comes (the A-ASSOCIATE-RQ) and closes without a word."""
    server = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    connection.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stopping.set()
    server.close()
    thread.join(5)


def test_a_plain_peer_closing_after_our_request_is_not_called_a_tls_failure(
    capsys: pytest.CaptureFixture[str], home: Path, closer: int
) -> None:
    assert cli(capsys, *node_add("closer", "CLOSER", closer))[0] == 0
    status, _, err = cli(capsys, "echo", "closer")
    assert status == 1
    assert "TLS" not in err, err
    assert (
        f"127.0.0.1:{closer} closed the connection without answering (no A-ASSOCIATE-RJ, "
        "no A-ABORT). It may not know our AE title COURIER or our address"
    ) in err
