"""Orthanc 1.10 over DICOM TLS as our query/retrieve peer: our ``get`` retrieves from it; its
REST API queries our ``listen`` and retrieves from it (a C-MOVE to itself, a configured node
of ours)."""

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from desktop.connect import listener_tls, node_connector
from desktop.core.config import load_config
from desktop.core.store import Store
from desktop.core.store.importing import import_media
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile
from desktop.serving import cached_connectors, query_retrieve
from tests.helpers import cli, node_add, require_tool
from tests.peers import LOOPBACK, free_port, orthanc_config, running
from tests.pki import KEY_PASSWORD, Pki, prepare_home

PASSWORD = "keystore password for the query/retrieve orthanc test"
STUDY = StudySpec("ORQ-1", "Orthanc^Retrieve", "20250203", "both ways", (SeriesSpec("CT", "a", 3),))


class Orthanc:
    def __init__(self, http_port: int) -> None:
        self.base = f"http://{LOOPBACK}:{http_port}"

    def call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        request = urllib.request.Request(
            self.base + path,
            data=data.encode() if isinstance(data, str) else data,
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read() or b"null")


@pytest.fixture
def orthanc(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[Orthanc, int, Path]]:
    """Orthanc (TLS, client certificates required), our home with it as node 'orthanc', and
    the port Orthanc expects our listener on."""
    dicom, http, ours = free_port(), free_port(), free_port()
    config = orthanc_config(pki, tmp_path, dicom, http, ours)
    with running([require_tool("Orthanc"), config], http, tmp_path / "orthanc.log"):
        home = prepare_home(tmp_path / "home", monkeypatch, pki, "client", PASSWORD)
        node = node_add("orthanc", "ORTHANC", dicom, "--tls", "--identity", "courier")
        assert cli(capsys, *node)[0] == 0
        yield Orthanc(http), ours, home


def test_our_get_retrieves_from_orthanc_over_tls(
    orthanc: tuple[Orthanc, int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _, home = orthanc
    files = write_files(tmp_path / "study", (STUDY,))
    for path in files:
        server.call("/instances", path.read_bytes())
    study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    status, out, err = cli(capsys, "get", "orthanc", "--study", study)
    assert status == 0, out + err
    assert "3 instances filed" in out
    with Store(home / "inbox") as store:
        assert store.counts() == (1, 1, 1, 3)


def test_orthanc_queries_our_listener_and_moves_to_itself(
    orthanc: tuple[Orthanc, int, Path], pki: Pki, tmp_path: Path
) -> None:
    server, port, home = orthanc
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    files = write_files(tmp_path / "study", (STUDY,))
    records: list[dict[str, Any]] = []
    with Store(tmp_path / "served") as store:
        list(import_media(store, [tmp_path / "study"]))
        settings = ListenerSettings("COURIER", LOOPBACK, port, store.folder)
        settings.tls_context, acceptor = listener_tls(keystore, "scp", Profile.BCP195_ND)
        connectors = cached_connectors(lambda node: node_connector(node, keystore))
        services = query_retrieve(store, home, connectors)
        listener = StorageListener(settings, records.append, acceptor, services=services).start()
        try:
            query = server.call(
                "/modalities/courier/query",
                {"Level": "Study", "Query": {"PatientID": "ORQ-1", "StudyInstanceUID": ""}},
            )
            answers = server.call(f"/queries/{query['ID']}/answers?expand")
            assert [a["0020,000d"]["Value"] for a in answers] == [
                str(pydicom.dcmread(files[0]).StudyInstanceUID)
            ]
            server.call(f"/queries/{query['ID']}/retrieve", {"TargetAet": "ORTHANC"})
        finally:
            listener.stop()
    assert len(server.call("/instances")) == 3
    assert "orthanc" in load_config(home).nodes
    moved = [r for r in records if r["event"] == "retrieve-answered"]
    assert moved and moved[-1]["completed"] == 3 and moved[-1]["status"] == 0
