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
from tests.peers import LOOPBACK, free_port, orthanc_config, running
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
