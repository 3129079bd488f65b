"""Our listener as a query/retrieve provider, with DCMTK's findscu, movescu and getscu as the
clients over TLS with mutual authentication, a DCMTK storescp as the configured move
destination; and our ``get`` against DCMTK's dcmqrscp."""

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pydicom
import pytest
from lxml import etree
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset

from desktop import auditing
from desktop.connect import listener_tls, node_connector
from desktop.core.config import Node, add_node
from desktop.core.store import Store
from desktop.core.store.importing import import_media
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile
from desktop.serving import cached_connectors, query_retrieve
from tests.audit.reading import audited, instances, roles
from tests.helpers import cli, node_add, require_tool
from tests.net.conftest import PASSWORD, Scp
from tests.peers import (
    LOOPBACK,
    dcmqrscp_config,
    dcmqrscp_load,
    dcmtk_client_tls,
    free_port,
    running,
    stunnel_client,
)
from tests.pki import KEY_PASSWORD, Pki

pytestmark = pytest.mark.dcmtk

STUDY = StudySpec(
    "QR-1",
    "Query^Retrieve",
    "20250102",
    "served",
    (
        SeriesSpec("CT", "axial", count=3, rows=32, columns=32),
        SeriesSpec("CT", "coronal", count=2, rows=32, columns=32),
    ),
)


@dataclass
class Served:
    listener: StorageListener
    records: list[dict[str, Any]]
    files: list[Path]
    store: Store

    @property
    def study(self) -> str:
        return str(pydicom.dcmread(self.files[0], stop_before_pixels=True).StudyInstanceUID)

    def series(self) -> list[str]:
        return sorted({str(pydicom.dcmread(f).SeriesInstanceUID) for f in self.files})


def serving(
    home: Path, pki: Pki, tmp_path: Path, *allowed: str, audit: bool = False
) -> Iterator[Served]:
    """A listener serving a study; with ``audit``, its records also go to ``home``'s trail."""
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    files = write_files(tmp_path / "study", (STUDY,))
    store = Store(tmp_path / "inbox")
    assert len(list(import_media(store, [tmp_path / "study"]))) == len(files)
    records: list[dict[str, Any]] = []
    settings = ListenerSettings("COURIER", LOOPBACK, 0, store.folder, list(allowed))
    settings.tls_context, acceptor = listener_tls(keystore, "scp", Profile.BCP195_ND)
    connectors = cached_connectors(lambda node: node_connector(node, keystore))
    services = query_retrieve(store, home, connectors)
    if audit:
        auditing.install(home)
    sink = auditing.listener(records.append, "COURIER") if audit else records.append
    listener = StorageListener(settings, sink, acceptor, services=services).start()
    try:
        yield Served(listener, records, files, store)
    finally:
        listener.stop()
        store.close()
        if audit:
            auditing.uninstall()


@pytest.fixture
def served(home: Path, pki: Pki, tmp_path: Path) -> Iterator[Served]:
    yield from serving(home, pki, tmp_path, audit=True)


@pytest.fixture(scope="module")
def shared(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One listener for the read-only tests (queries): its own home, no nodes."""
    folder = tmp_path_factory.mktemp("served")
    Keystore(folder / "home", lambda new: PASSWORD).import_cas(pki.path("root-only"))
    yield from serving(folder / "home", pki, folder)


@pytest.fixture
def tunnel(served: Served, pki: Pki, tmp_path: Path) -> Iterator[int]:
    """A plain port that stunnel carries over mutual TLS to the served listener."""
    with stunnel_client(pki, tmp_path / "stunnel", served.listener.port) as port:
        yield port


def dcmtk(tool: str, pki: Pki, port: int, *options: str, calling: str) -> list[str]:
    """A DCMTK query/retrieve client over TLS with the PKI's client certificate (findscu; for
    movescu and getscu, which have no TLS in DCMTK 3.6.7, ``port`` is stunnel's)."""
    return [
        require_tool(tool),
        *(dcmtk_client_tls(pki) if tool == "findscu" else []),
        "-aet",
        calling,
        "-aec",
        "COURIER",
        *options,
        LOOPBACK,
        str(port),
    ]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def find_count(
    pki: Pki, port: int, out: Path, model: str, level: str, *keys: str, calling: str = "FINDSCU"
) -> int:
    """How many matches findscu extracts (one file each)."""
    out.mkdir()
    options = [*model.split(), "-X", "-od", str(out), "-k", f"QueryRetrieveLevel={level}"]
    for key in keys:
        options += ["-k", key]
    result = run(dcmtk("findscu", pki, port, *options, calling=calling))
    assert result.returncode == 0, result.stderr + result.stdout
    return len(list(out.glob("rsp*.dcm")))


@pytest.mark.parametrize(
    ("model", "level", "keys", "expected"),
    [
        ("-P", "PATIENT", ("PatientID=QR-1", "PatientName"), 1),
        ("-P", "STUDY", ("PatientID=QR-1", "StudyInstanceUID"), 1),
        ("-P", "SERIES", ("PatientID=QR-1", "StudyInstanceUID={study}", "SeriesInstanceUID"), 2),
        ("-S", "STUDY", ("PatientName=Query*", "StudyInstanceUID"), 1),
        ("-S", "SERIES", ("StudyInstanceUID={study}", "Modality=CT", "SeriesInstanceUID"), 2),
        ("-S", "IMAGE", ("StudyInstanceUID={study}", "SeriesInstanceUID={series}"), 3),
        ("-S -xi", "STUDY", ("PatientName=Q*^R*", "StudyDate=20250101-20250131"), 1),
    ],
)
def test_findscu_over_mutual_tls_at_every_level(
    shared: Served,
    pki: Pki,
    tmp_path: Path,
    model: str,
    level: str,
    keys: tuple[str, ...],
    expected: int,
) -> None:
    series = {
        str(pydicom.dcmread(f).SeriesInstanceUID)
        for f in shared.files
        if pydicom.dcmread(f).SeriesDescription == "axial"
    }.pop()
    filled = [k.format(study=shared.study, series=series) for k in keys]
    port = shared.listener.port
    assert find_count(pki, port, tmp_path / "found", model, level, *filled) == expected
    answered = [r for r in shared.records if r["event"] == "query-answered"]
    assert answered[-1]["status"] == 0 and answered[-1]["matches"] == expected
    assert mutual_tls(shared.records)


def test_keys_we_do_not_support_are_answered_ff01_to_findscu_and_named_to_our_find(
    shared: Served, pki: Pki, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PS3.4 C.4.1.1.4: optional keys the store does not index (PixelSpacing, SliceThickness
    with a value) are neither matched nor returned, and each pending response says so with
    0xFF01; our ``find`` names them and still lists the matches."""
    out = tmp_path / "found"
    out.mkdir()
    options = ["-S", "-X", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY"]
    for key in ("PatientID=QR-1", "PixelSpacing", "SliceThickness=9", "StudyDate"):
        options += ["-k", key]
    result = run(dcmtk("findscu", pki, shared.listener.port, "-d", *options, calling="FINDSCU"))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "0xff01: Pending" in result.stdout + result.stderr
    [response] = [pydicom.dcmread(f) for f in out.glob("rsp*.dcm")]
    assert (response.PatientID, response.StudyDate) == ("QR-1", "20250102")
    assert "PixelSpacing" not in response and "SliceThickness" not in response
    answered = [r for r in shared.records if r["event"] == "query-answered"]
    assert (answered[-1]["status"], answered[-1]["matches"]) == (0, 1)
    assert answered[-1]["unsupported"] == ["SliceThickness", "PixelSpacing"]
    # A query of supported keys only is plain pending (0xFF00), and no warning is kept.
    supported = run(dcmtk("findscu", pki, shared.listener.port, "-d", *options[:8], calling="F"))
    assert "0xff00: Pending" in supported.stdout + supported.stderr
    assert "0xff01" not in supported.stdout + supported.stderr
    assert "unsupported" not in [r for r in shared.records if r["event"] == "query-answered"][-1]
    # Our requestor, over the same mutual TLS: the matches, and the keys named in words.
    port = shared.listener.port
    add_node(home, Node("us", "COURIER", LOOPBACK, port, tls=True, identity="courier"))
    status, printed, warned = cli(
        capsys, "find", "us", "-k", "PatientID=QR-1", "-k", "PixelSpacing=", "-k", "StudyDate="
    )
    assert status == 0, warned
    assert "PatientID=QR-1" in printed and "1 match" in printed
    assert warned.strip() == (
        "warning: the peer does not support the optional key PixelSpacing (0xFF01): ignored "
        "for matching and not returned, so the matches may be more than asked for"
    )


def test_getscu_retrieves_a_study_and_a_series_over_mutual_tls(
    served: Served, tunnel: int, pki: Pki, home: Path, tmp_path: Path
) -> None:
    first = served.series()[0]
    for name, level, keys, expected in (
        ("study", "STUDY", [f"StudyInstanceUID={served.study}"], 5),
        (
            "series",
            "SERIES",
            [f"StudyInstanceUID={served.study}", f"SeriesInstanceUID={served.series()[0]}"],
            None,
        ),
    ):
        out = tmp_path / f"got-{name}"
        out.mkdir()
        options = ["-S", "-od", str(out), "-k", f"QueryRetrieveLevel={level}"]
        for key in keys:
            options += ["-k", key]
        result = run(dcmtk("getscu", pki, tunnel, *options, calling="GETSCU"))
        assert result.returncode == 0, result.stderr + result.stdout
        got = {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.iterdir()}
        sent = {
            str(pydicom.dcmread(f).SOPInstanceUID)
            for f in served.files
            if name == "study" or str(pydicom.dcmread(f).SeriesInstanceUID) == served.series()[0]
        }
        assert got == sent and len(got) == (expected or len(sent))
    answered = [r for r in served.records if r["event"] == "retrieve-answered"]
    assert [(r["service"], r["status"], r["failed"]) for r in answered] == [
        ("C-GET", 0, 0),
        ("C-GET", 0, 0),
    ]
    assert mutual_tls(served.records)
    # Each C-GET is in the audit trail: 110104, we the source, the requestor the destination.
    study, series = audited(home, "110104", 2)
    assert [(e.action, e.outcome, e.node) for e in (study, series)] == [("R", 0, "GETSCU")] * 2
    assert "C-GET by GETSCU: 5 of 5 instance(s) sent to GETSCU" in study.summary
    in_series = [f for f in served.files if pydicom.dcmread(f).SeriesInstanceUID == first]
    assert instances(study) == (served.study, "5")
    assert instances(series) == (served.study, str(len(in_series)))
    assert roles(study)["GETSCU"] == ("110152", "true")
    assert roles(study)["COURIER"] == ("110153", "false")


def mutual_tls(records: list[dict[str, Any]]) -> bool:
    """Whether the listener completed TLS handshakes in which the client presented the PKI's
    client certificate (and none failed)."""
    transcripts = [r["transcript"] for r in records if r["event"] == "handshake"]
    return bool(transcripts) and all(
        t["ok"] and "client.test" in json.dumps(t["peer_chain"]) for t in transcripts
    )


def test_movescu_moves_to_a_storescp_configured_as_a_node(
    served: Served, tunnel: int, pki: Pki, home: Path, storescp: Scp
) -> None:
    add_node(
        home,
        Node("dcmtk", "DCMTK_SCP", LOOPBACK, storescp.port, tls=True, identity="courier"),
    )
    options = ["-S", "-aem", "DCMTK_SCP", "-k", "QueryRetrieveLevel=STUDY"]
    options += ["-k", f"StudyInstanceUID={served.study}"]
    result = run(dcmtk("movescu", pki, tunnel, *options, calling="MOVESCU"))
    assert result.returncode == 0, result.stderr + result.stdout
    received = storescp.received()
    assert set(received) == {str(pydicom.dcmread(f).SOPInstanceUID) for f in served.files}
    answered = [r for r in served.records if r["event"] == "retrieve-answered"]
    assert answered[-1]["service"] == "C-MOVE" and answered[-1]["completed"] == 5
    assert mutual_tls(served.records)
    # Each C-STORE names the move it serves (PS3.7 9.1.1.1), as storescp's log shows.
    assert storescp.log.read_text().count("Move Originator AE Title      : MOVESCU") == 5
    # The move is in the audit trail: 110104 of the study, to the move destination.
    [moved] = audited(home, "110104", 1)
    assert (moved.action, moved.outcome, moved.node) == ("R", 0, "DCMTK_SCP")
    assert "C-MOVE by MOVESCU: 5 of 5 instance(s) sent to DCMTK_SCP" in moved.summary
    assert instances(moved) == (served.study, "5")
    assert roles(moved) == {  # MOVESCU asked for the move: the requestor, a third party
        "COURIER": ("110153", "false"),
        "DCMTK_SCP": ("110152", "false"),
        "MOVESCU": ("", "true"),
    }


def test_a_retrieve_of_a_study_uid_held_for_two_patients_is_refused_unless_one_is_named(
    served: Served, tunnel: int, pki: Pki, home: Path, tmp_path: Path, storescp: Scp
) -> None:
    """G19: a study-root C-MOVE (or C-GET) by a Study Instance UID the store holds for two
    patients handed out both patients' instances as one study. Refused now with 0xC000, an
    Error Comment naming no patient, a 110113 naming both; PatientID in the identifier
    chooses one patient, whose instances alone are sent."""
    other = pydicom.dcmread(served.files[0])
    other.PatientID, other.PatientName = "OTHER-42", "Other^Patient"
    other.SeriesInstanceUID, other.SOPInstanceUID = f"{served.study}.9", f"{served.study}.9.1"
    other.file_meta.MediaStorageSOPInstanceUID = other.SOPInstanceUID
    filed = served.store.folder / "other.dcm"
    other.save_as(filed)
    served.store.add(filed)
    add_node(
        home,
        Node("dcmtk", "DCMTK_SCP", LOOPBACK, storescp.port, tls=True, identity="courier"),
    )
    options = ["-S", "-aem", "DCMTK_SCP", "-k", "QueryRetrieveLevel=STUDY"]
    options += ["-k", f"StudyInstanceUID={served.study}"]
    result = run(dcmtk("movescu", pki, tunnel, "-d", *options, calling="MOVESCU"))
    assert result.returncode != 0 and not storescp.received()
    assert "UID held for 2+ patients: give PatientID to choose one" in result.stderr
    out = tmp_path / "got"
    out.mkdir()
    get = ["-S", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY"]
    got = run(dcmtk("getscu", pki, tunnel, *get, *options[-2:], calling="GETSCU"))
    assert "Failed: UnableToProcess" in got.stderr and not list(out.iterdir())
    refused = [r for r in served.records if r["event"] == "retrieve-answered"]
    assert [(r["service"], r["status"], r["completed"]) for r in refused] == [
        ("C-MOVE", 0xC000, 0),
        ("C-GET", 0xC000, 0),
    ]
    assert refused[0]["reason"] == (
        f"study {served.study} is held for 2 patients (OTHER-42, QR-1): refused, so that no "
        "patient's images go out as another's; a request naming PatientID (and "
        "IssuerOfPatientID) chooses one"
    )
    assert refused[0]["failure"] == refused[0]["reason"]  # the history says it
    alerts = audited(home, "110113", 2)
    for alert, service, calling in zip(
        alerts, ("C-MOVE", "C-GET"), ("MOVESCU", "GETSCU"), strict=True
    ):
        assert alert.outcome == 4 and alert.node == calling
        assert f"{service} by {calling} refused: study {served.study}" in alert.summary
        for patient in ("QR-1", "OTHER-42"):
            assert f'ParticipantObjectID="{patient}"' in alert.xml
    assert audited(home, "110104", 0) == []
    # PatientID chooses one patient: that patient's five instances, never the other's.
    chosen = run(dcmtk("movescu", pki, tunnel, *options, "-k", "PatientID=QR-1", calling="M"))
    assert chosen.returncode == 0, chosen.stderr
    assert set(storescp.received()) == {
        str(pydicom.dcmread(f).SOPInstanceUID) for f in served.files
    }


def test_an_answered_findscu_query_is_audited(
    served: Served, pki: Pki, home: Path, tmp_path: Path
) -> None:
    """110112 with the requestor as the source, and the query's level and keys."""
    port = served.listener.port
    assert find_count(pki, port, tmp_path / "found", "-S", "STUDY", "PatientID=QR-1") == 1
    [query] = audited(home, "110112", 1)
    assert (query.outcome, query.node) == (0, "FINDSCU") and "1 match(es)" in query.summary
    assert roles(query) == {"FINDSCU": ("110153", "true"), "COURIER": ("110152", "false")}
    subject = etree.fromstring(query.xml).find("ParticipantObjectIdentification")
    assert subject.get("ParticipantObjectID") == "1.2.840.10008.5.1.4.1.2.2.1"
    encoded = base64.b64decode(subject.findtext("ParticipantObjectQuery"))
    identifier = read_dataset(DicomBytesIO(encoded), is_implicit_VR=False, is_little_endian=True)
    assert (identifier.QueryRetrieveLevel, identifier.PatientID) == ("STUDY", "QR-1")


def test_a_move_to_an_unknown_destination_is_refused_a801_and_audited(
    served: Served, tunnel: int, pki: Pki, tmp_path: Path, home: Path
) -> None:
    options = ["-S", "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY"]
    options += ["-k", f"StudyInstanceUID={served.study}"]
    result = run(dcmtk("movescu", pki, tunnel, *options, calling="MOVESCU"))
    assert result.returncode != 0 and "MoveDestinationUnknown" in result.stderr
    answered = [r for r in served.records if r["event"] == "retrieve-answered"]
    assert answered[-1]["status"] == 0xA801 and "NOWHERE" in answered[-1]["reason"]
    [alert] = audited(home, "110113", 1)  # tester's F5: it left no record
    assert "COURIER refused MOVESCU" in alert.summary and alert.outcome == 4
    assert "move destination 'NOWHERE' is not a configured node" in alert.summary


def test_a_title_granted_only_queries_cannot_retrieve(home: Path, pki: Pki, tmp_path: Path) -> None:
    for served in serving(home, pki, tmp_path, "GETSCU/query"):
        out = tmp_path / "got"
        out.mkdir()
        options = ["-S", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY"]
        options += ["-k", f"StudyInstanceUID={served.study}"]
        with stunnel_client(pki, tmp_path / "stunnel", served.listener.port) as tunnel:
            result = run(dcmtk("getscu", pki, tunnel, *options, calling="GETSCU"))
        assert result.returncode != 0 and not list(out.iterdir())
        refused = [r for r in served.records if r["event"] == "access-refused"]
        assert refused and "retrieve" in refused[0]["service"]
        port = served.listener.port
        assert find_count(pki, port, tmp_path / "f", "-S", "STUDY", calling="GETSCU") == 1


def test_our_get_retrieves_from_dcmqrscp_into_the_store(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_files(tmp_path / "study", (STUDY,))
    port = free_port()
    config = dcmqrscp_config(tmp_path / "qr", port)
    dcmqrscp_load(config, files)
    study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    assert cli(capsys, *node_add("qr", "QRSCP", port))[0] == 0
    with running([require_tool("dcmqrscp"), "-c", config], port, tmp_path / "qr.log"):
        status, out, err = cli(capsys, "get", "qr", "--study", study)
        missing = cli(capsys, "get", "qr", "--study", "2.25.999")
        no_series = cli(capsys, "get", "qr", "--study", study, "--series", "2.25.1")
        no_move = cli(capsys, "move", "qr", "--study", "2.25.999", "--dest", "QRSCP")
    assert status == 0, out + err
    assert "5 instances filed" in out
    assert missing[0] == 1 and "nothing matched study 2.25.999 on qr" in missing[2]
    assert no_series[0] == 1
    assert f"nothing matched series 2.25.1 of study {study} on qr" in no_series[2]
    assert no_move[0] == 1 and "nothing matched study 2.25.999 on qr" in no_move[2], no_move
    with Store(home / "inbox") as store:
        assert store.counts()[3] == 5


def test_the_listen_command_serves_findscu_and_getscu_over_mutual_tls(
    home: Path, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dicom-courier listen --tls`` as a user starts it, serving what ``import`` filed."""
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    files = write_files(tmp_path / "study", (STUDY,))
    assert cli(capsys, "import", tmp_path / "study")[0] == 0
    assert cli(capsys, "access", "allow", "FINDSCU/query", "GETSCU/retrieve")[0] == 0
    port = free_port()
    command = [sys.executable, "-m", "desktop.cli", "listen", "--port", str(port)]
    command += ["--tls", "--identity", "scp"]
    with running(command, port, tmp_path / "listen.log"):  # the home of the environment
        assert find_count(pki, port, tmp_path / "found", "-S", "STUDY", "PatientID=QR-1") == 1
        out = tmp_path / "got"
        out.mkdir()
        study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
        options = ["-S", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY"]
        options += ["-k", f"StudyInstanceUID={study}"]
        with stunnel_client(pki, tmp_path / "stunnel", port) as tunnel:
            result = run(dcmtk("getscu", pki, tunnel, *options, calling="GETSCU"))
        assert result.returncode == 0, result.stderr
        assert len(list(out.iterdir())) == len(files)
        # FINDSCU may query but not retrieve: its C-GET context is refused, and said so.
        with stunnel_client(pki, tmp_path / "stunnel2", port) as tunnel:
            refused = run(dcmtk("getscu", pki, tunnel, *options, calling="FINDSCU"))
        assert refused.returncode != 0
    log = (tmp_path / "listen.log").read_text()
    assert "access-refused (FINDSCU)" in log and "may not retrieve" in log


@pytest.mark.parametrize(
    ("settings", "copies"),
    [({"deid": True}, "de-identified"), ({"sign_profile": "base", "sign_identity": "x"}, "signed")],
)
def test_a_move_to_a_node_that_takes_only_copies_is_refused(
    served: Served,
    tunnel: int,
    pki: Pki,
    home: Path,
    storescp: Scp,
    settings: dict[str, object],
    copies: str,
) -> None:
    """A node set to receive de-identified (or signed) copies never gets the stored
    originals by a C-MOVE: the move fails with the reason, nothing reaches the node."""
    node = Node("copies", "DCMTK_SCP", LOOPBACK, storescp.port, tls=True, identity="courier")
    add_node(home, replace(node, **settings))  # type: ignore[arg-type]
    options = ["-S", "-aem", "DCMTK_SCP", "-k", "QueryRetrieveLevel=STUDY"]
    options += ["-k", f"StudyInstanceUID={served.study}"]
    result = run(dcmtk("movescu", pki, tunnel, *options, calling="MOVESCU"))
    assert result.returncode != 0
    assert not storescp.received()
    answered = [r for r in served.records if r["event"] == "retrieve-answered"]
    assert answered[-1]["status"] == 0xC000
    assert f"receives only {copies} copies" in answered[-1]["reason"]
    assert audited(home, "110104", 0) == []  # nothing was sent: nothing transferred


def test_what_an_archive_answers_is_shown_never_obeyed_by_the_terminal(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A C-FIND answer (any archive, a hostile one too) holding ESC sequences recoloured or
    retitled the operator's terminal: ``find`` and ``store list`` printed it raw (E13 of
    findings8). Control characters are shown as escapes, as ``tree`` shows a file's."""
    [source, *_] = write_files(tmp_path / "study", (STUDY,))
    hostile = pydicom.dcmread(source)
    hostile.PatientID, hostile.StudyDescription = "ID\x1b]0;owned\x07", "Head\x1b[2J"
    hostile.save_as(source)
    port = free_port()
    config = dcmqrscp_config(tmp_path / "qr", port)
    dcmqrscp_load(config, [source])
    assert cli(capsys, *node_add("qr", "QRSCP", port))[0] == 0
    with running([require_tool("dcmqrscp"), "-c", config], port, tmp_path / "qr.log"):
        status, out, _ = cli(capsys, "find", "qr", "-k", "PatientID=", "-k", "StudyDescription=")
    assert status == 0 and "1 match" in out
    assert "PatientID=ID\\x1b]0;owned\\x07" in out and "Head\\x1b[2J" in out
    assert "\x1b" not in out and "\x07" not in out
    assert cli(capsys, "import", source)[0] == 0
    status, out, _ = cli(capsys, "store", "list")
    assert status == 0 and "ID\\x1b]0;owned\\x07" in out and "\x1b" not in out
