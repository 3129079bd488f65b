"""Orthanc 1.10 as the tests' peer: started on loopback with DICOM TLS and the test PKI
(client certificates required), our AE 'COURIER' one of its modalities, its REST API on HTTP;
and our home with it as the node 'orthanc'."""

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli, node_add, require_tool
from tests.peers import LOOPBACK, free_port, running
from tests.pki import Pki, prepare_home


@dataclass
class Orthanc:
    """A running Orthanc: its DICOM port, its REST API's, and the port it reaches our
    listener on (its modality 'courier': C-MOVE destination, storage commitment reports)."""

    dicom_port: int
    http_port: int
    move_port: int

    def rest(self, method: str, path: str, body: object = None) -> Any:
        """Ask the REST API: ``body`` sent as is (bytes, text) or as JSON; the JSON answer."""
        raw = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        data = raw.encode() if isinstance(raw, str) else raw
        url = f"http://{LOOPBACK}:{self.http_port}{path}"
        request = urllib.request.Request(url, data, method=method)
        with urllib.request.urlopen(request, timeout=60) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def upload(self, path: Path) -> str:
        """Store the file ``path`` straight into Orthanc over REST: its Orthanc ID."""
        return str(self.rest("POST", "/instances", path.read_bytes())["ID"])


@contextmanager
def running_orthanc(pki: Pki, folder: Path) -> Iterator[Orthanc]:
    """Orthanc configured, its database and log in ``folder``, until the block ends."""
    peer = Orthanc(free_port(), free_port(), free_port())
    config = orthanc_config(pki, folder, peer.dicom_port, peer.http_port, peer.move_port)
    with running([require_tool("Orthanc"), config], peer.http_port, folder / "orthanc.log"):
        yield peer


def add_orthanc_node(capsys: pytest.CaptureFixture[str], orthanc: Orthanc) -> None:
    """Add ``orthanc`` to the current home as the node 'orthanc': TLS, identity 'courier'."""
    node = node_add("orthanc", "ORTHANC", orthanc.dicom_port, "--tls", "--identity", "courier")
    assert cli(capsys, *node)[0] == 0


@contextmanager
def orthanc_node(
    pki: Pki,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    identity: str,
    password: str,
) -> Iterator[Orthanc]:
    """Orthanc running in ``folder``, and ``folder``/home made the current home (identity
    'courier' the PKI's ``identity``, its keystore sealed with ``password``) with it as the
    node 'orthanc'."""
    with running_orthanc(pki, folder) as orthanc:
        prepare_home(folder / "home", monkeypatch, pki, identity, password)
        add_orthanc_node(capsys, orthanc)
        yield orthanc


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
