"""Real peers on loopback: started by the tests, waited for, and always stopped."""

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import require_tool
from tests.pki import KEY_PASSWORD, Pki

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 15.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the peer exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the peer did not listen on port {port} within {timeout} s:\n{log.read_text()}")


@contextmanager
def running(
    command: Sequence[str | Path], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a peer until the block ends; its output goes to ``log``."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(c) for c in command], stdout=output, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_for_port(port, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def storescp_tls_command(
    pki: Pki,
    out: Path,
    port: int,
    *,
    profile: str = "--profile-bcp195-nd",
    server: str = "server",
    trust: str = "root-only.pem",
    require_client: bool = True,
) -> list[str | Path]:
    """DCMTK's storescp as a TLS storage SCP (encrypted key, a trusted CA, client certs)."""
    return [
        require_tool("storescp"),
        "-d",
        "+tls",
        pki.path(server, ".key"),
        pki.path(server),
        "+pw",
        KEY_PASSWORD,
        "+cf",
        pki.path(trust, ""),
        *(["--require-peer-cert"] if require_client else ["--verify-peer-cert"]),
        profile,
        "-aet",
        "DCMTK_SCP",
        "-od",
        out,
        str(port),
    ]


def storescp_plain_command(out: Path, port: int) -> list[str | Path]:
    return [require_tool("storescp"), "-d", "-aet", "DCMTK_SCP", "-od", out, str(port)]


@contextmanager
def python_tls_server(context: ssl.SSLContext | None) -> Iterator[int]:
    """A loopback server completing TLS handshakes with ``context`` and then waiting; with no
    context it accepts connections and never answers (a peer that hangs)."""
    listener = socket.create_server((LOOPBACK, 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            if context is None:
                continue
            try:
                tls = context.wrap_socket(connection, server_side=True)
                held.append(tls)
                tls.settimeout(5)
                tls.recv(1)
            except (OSError, ssl.SSLError):
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=10)
        for connection in held:
            connection.close()
        listener.close()


def server_context_for(
    pki: Pki,
    stem: str,
    *,
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
    ciphers: str = "DEFAULT:@SECLEVEL=0",
) -> ssl.SSLContext:
    """A Python server context presenting the PKI's ``stem`` certificate (no client check)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(ciphers)
    if versions:
        context.minimum_version, context.maximum_version = versions
    context.load_cert_chain(pki.path(stem), pki.path(stem, ".key"), password=KEY_PASSWORD)
    return context
