"""Orthanc 1.10 over DICOM TLS as our query/retrieve peer: our ``get`` retrieves from it; its
REST API queries our ``listen`` and retrieves from it (a C-MOVE to itself, a configured node
of ours)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from desktop.connect import listener_tls, node_connector
from desktop.core.config import load_config
from desktop.core.paths import courier_home
from desktop.core.store import Store
from desktop.core.store.importing import import_media
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile
from desktop.serving import cached_connectors, query_retrieve
from tests.helpers import cli
from tests.orthanc import Orthanc, orthanc_node
from tests.peers import LOOPBACK
from tests.pki import KEY_PASSWORD, Pki

PASSWORD = "keystore password for the query/retrieve orthanc test"
STUDY = StudySpec("ORQ-1", "Orthanc^Retrieve", "20250203", "both ways", (SeriesSpec("CT", "a", 3),))


@pytest.fixture
def orthanc(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Orthanc]:
    """The suite's ``orthanc``, our identity 'courier' the PKI's client certificate."""
    with orthanc_node(
        pki, tmp_path, monkeypatch, capsys, identity="client", password=PASSWORD
    ) as peer:
        yield peer


def test_our_get_retrieves_from_orthanc_over_tls(
    orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_files(tmp_path / "study", (STUDY,))
    for path in files:
        orthanc.upload(path)
    study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    status, out, err = cli(capsys, "get", "orthanc", "--study", study)
    assert status == 0, out + err
    assert "3 instances filed" in out
    with Store(courier_home() / "inbox") as store:
        assert store.counts() == (1, 1, 1, 3)


def test_orthanc_queries_our_listener_and_moves_to_itself(
    orthanc: Orthanc, pki: Pki, tmp_path: Path
) -> None:
    home = courier_home()
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    files = write_files(tmp_path / "study", (STUDY,))
    records: list[dict[str, Any]] = []
    with Store(tmp_path / "served") as store:
        list(import_media(store, [tmp_path / "study"]))
        settings = ListenerSettings("COURIER", LOOPBACK, orthanc.move_port, store.folder)
        settings.tls_context, acceptor = listener_tls(keystore, "scp", Profile.BCP195_ND)
        connectors = cached_connectors(lambda node: node_connector(node, keystore))
        services = query_retrieve(store, home, connectors)
        listener = StorageListener(settings, records.append, acceptor, services=services).start()
        try:
            query = orthanc.rest(
                "POST",
                "/modalities/courier/query",
                {"Level": "Study", "Query": {"PatientID": "ORQ-1", "StudyInstanceUID": ""}},
            )
            answers = orthanc.rest("GET", f"/queries/{query['ID']}/answers?expand")
            assert [a["0020,000d"]["Value"] for a in answers] == [
                str(pydicom.dcmread(files[0]).StudyInstanceUID)
            ]
            retrieve = f"/queries/{query['ID']}/retrieve"
            orthanc.rest("POST", retrieve, {"TargetAet": "ORTHANC"})
        finally:
            listener.stop()
    assert len(orthanc.rest("GET", "/instances")) == 3
    assert "orthanc" in load_config(home).nodes
    moved = [r for r in records if r["event"] == "retrieve-answered"]
    assert moved and moved[-1]["completed"] == 3 and moved[-1]["status"] == 0
