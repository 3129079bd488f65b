"""Real peers on loopback: started by the tests, waited for, and always stopped."""

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

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
def storescp_plain(out: Path, port: int, *options: str) -> Iterator[subprocess.Popen[bytes]]:
    """DCMTK's storescp (AE DCMTK_SCP, plain DICOM, with ``options``) on ``port`` until the
    block ends, storing into ``out`` (made when missing), its log beside it."""
    out.mkdir(parents=True, exist_ok=True)
    command = storescp_plain_command(out, port)
    command[1:1] = options
    with running(command, port, out.with_name(f"{out.name}-storescp.log")) as process:
        yield process


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


def common_name_seen_by_server(pki: Pki, client: ssl.SSLContext) -> str:
    """The common name a client-checking server ('server', trusting the root) saw when
    ``client`` completed a handshake with it over a socket pair."""
    server = server_context_for(pki, "server")
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(cafile=pki.path("root-only"))
    ours, theirs = socket.socketpair()
    seen: list[dict[str, object]] = []

    def serve() -> None:
        with server.wrap_socket(theirs, server_side=True) as connection:
            seen.append(connection.getpeercert())
            connection.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with client.wrap_socket(ours) as connection:
        assert connection.recv(2) == b"ok"
    thread.join()
    return str(dict(pair[0] for pair in seen[0]["subject"])["commonName"])  # type: ignore[attr-defined]


@contextmanager
def pynetdicom_scp(
    status_of: Callable[[Dataset], int] = lambda dataset: 0,
    sop_classes: Sequence[str] | None = None,
    ae_title: str = "PYNET_SCP",
    require_called_aet: bool = False,
) -> Iterator[tuple[int, list[Dataset]]]:
    """pynetdicom's storage SCP on loopback, answering each C-STORE with ``status_of``."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    received: list[Dataset] = []

    def on_store(event: Any) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        received.append(dataset)
        return status_of(dataset)

    ae = AE(ae_title=ae_title)
    ae.require_called_aet = require_called_aet
    if sop_classes is None:
        ae.supported_contexts = AllStoragePresentationContexts
    else:
        for sop_class in sop_classes:
            ae.add_supported_context(sop_class)
    ae.add_supported_context("1.2.840.10008.1.1")
    port = free_port()
    server = ae.start_server(
        (LOOPBACK, port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        yield port, received
    finally:
        server.shutdown()


def orthanc_config(pki: Pki, folder: Path, dicom_port: int, http_port: int, move_port: int) -> Path:
    """An Orthanc configuration with DICOM TLS, client certificates required, and our AE
    'COURIER' as a modality reachable over TLS at ``move_port`` (for C-MOVE)."""
    from cryptography.hazmat.primitives import serialization

    key = folder / "orthanc.key"  # the peer's own key: Orthanc reads only unencrypted keys
    key.write_bytes(
        pki.server.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    config = {
        "Name": "ORTHANC_TLS",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "Plugins": [],
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": False,
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(pki.path("server")),
        "DicomTlsPrivateKey": str(key),
        "DicomTlsTrustedCertificates": str(pki.path("root-only")),
        "DicomTlsRemoteCertificateRequired": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomModalities": {
            "courier": {
                "AET": "COURIER",
                "Host": LOOPBACK,
                "Port": move_port,
                "UseDicomTls": True,
                "AllowFind": True,
                "AllowMove": True,
                "AllowStore": True,
                "AllowEcho": True,
                "AllowGet": True,
            }
        },
    }
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def dcmtk_client_tls(pki: Pki) -> list[str]:
    """A DCMTK client's TLS options: the PKI's client identity, trusting the test root."""
    return [
        "+tls",
        str(pki.path("client", ".key")),
        str(pki.path("client")),
        "+pw",
        KEY_PASSWORD,
        "+cf",
        str(pki.path("root-only")),
    ]


def storescu_tls(
    pki: Pki,
    port: int,
    files: Sequence[Path],
    *options: str,
    called: str = "COURIER",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """DCMTK's storescu over TLS with the PKI's client identity, trusting the test root."""
    return subprocess.run(
        [
            require_tool("storescu"),
            *dcmtk_client_tls(pki),
            "-aet",
            "STORESCU",
            "-aec",
            called,
            *options,
            LOOPBACK,
            str(port),
            *[str(f) for f in files],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def dcmqrscp_config(
    folder: Path, port: int, *, ae_title: str = "QRSCP", hosts: Sequence[tuple[str, int]] = ()
) -> Path:
    """DCMTK's dcmqrscp as archive ``ae_title`` (its database under ``folder``/db, any caller
    allowed), knowing the move destinations ``hosts`` (AE title, port on loopback)."""
    database = folder / "db"
    database.mkdir(parents=True)
    config = folder / "dcmqrscp.cfg"
    table = "".join(f"host{n} = ({ae}, {LOOPBACK}, {p})\n" for n, (ae, p) in enumerate(hosts))
    config.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 131072\nMaxAssociations = 16\n"
        f"HostTable BEGIN\n{table}HostTable END\nVendorTable BEGIN\nVendorTable END\n"
        f"AETable BEGIN\n{ae_title} {database} RW (10, 1024mb) ANY\nAETable END\n"
    )
    return config


def dcmqrscp_load(config: Path, files: Sequence[Path]) -> None:
    """Register ``files`` in the database of the dcmqrscp ``config`` describes (dcmqridx)."""
    subprocess.run(
        [require_tool("dcmqridx"), str(config.parent / "db"), *[str(f) for f in files]],
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextmanager
def stunnel_client(pki: Pki, folder: Path, port: int, stem: str = "client") -> Iterator[int]:
    """stunnel in client mode: a plain loopback port whose connections it carries over TLS
    to ``port``, presenting the PKI's ``stem`` certificate and verifying the server's chain
    against the test root (for DCMTK 3.6.7's movescu and getscu, which have no TLS)."""
    from cryptography.hazmat.primitives import serialization

    folder.mkdir(parents=True, exist_ok=True)
    key = folder / f"{stem}-plain.key"  # stunnel reads only unencrypted keys without a tty
    key.write_bytes(
        getattr(pki, stem).key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    local = free_port()
    config = folder / "stunnel.conf"
    config.write_text(
        f"foreground = yes\npid =\noutput = {folder / 'stunnel.out'}\ndebug = 5\n"
        f"[dicom]\nclient = yes\naccept = {LOOPBACK}:{local}\nconnect = {LOOPBACK}:{port}\n"
        f"cert = {pki.path(stem)}\nkey = {key}\nCAfile = {pki.path('root-only')}\n"
        "verifyChain = yes\nsslVersionMin = TLSv1.2\n"
    )
    with running([require_tool("stunnel4"), config], local, folder / "stunnel.log"):
        yield local


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A loopback port where a connect() hangs as to a host that never answers: a listening
    socket that never accepts, its backlog filled, so the kernel drops every further SYN (a
    non-routable address would fail at once offline: no route)."""
    server = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = server.getsockname()[1]
    filling: list[socket.socket] = []
    try:
        while len(filling) < 64:
            sock = socket.socket()
            filling.append(sock)
            sock.settimeout(0.3)
            try:
                sock.connect(("127.0.0.1", port))
            except TimeoutError:
                break  # the backlog is full: SYNs are dropped from now on
        else:
            pytest.fail("the listening socket's backlog never filled")
        yield port
    finally:
        for sock in filling:
            sock.close()
        server.close()
