"""``dicom-courier access``: the listener's access list in the configuration, used by the GUI's
listener as by ``listen``."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from desktop.app import InboxSettings, Services
from desktop.connect import node_connector
from desktop.core.config import Node, load_config
from desktop.net.link import LinkError
from desktop.net.query import QueryError, find
from desktop.net.store import Peer
from desktop.security.keystore import Keystore
from tests.audit.reading import audited
from tests.helpers import cli
from tests.peers import free_port

if TYPE_CHECKING:  # cryptography only when a test asks for the PKI
    from tests.pki import Pki


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_allow_list_and_revoke(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "access", "list")
    assert status == 0 and "any calling AE" in out
    assert cli(capsys, "access", "allow", "VIEWER/query", "MOD/store")[0] == 0
    assert load_config(home).listener_access == ["VIEWER/query", "MOD/store"]
    status, out, _ = cli(capsys, "access", "revoke", "MOD")
    assert status == 0 and out.split() == ["VIEWER/query"]
    status, _, err = cli(capsys, "access", "revoke", "NOBODY")  # a typo: nothing audited
    assert status == 1 and "no entry for 'NOBODY'; titles: VIEWER" in err
    assert cli(capsys, "access", "allow", "VIEWER/query", "MOD/store,store")[0] == 0
    assert load_config(home).listener_access == ["VIEWER/query", "MOD/store"]  # once each
    assert cli(capsys, "access", "revoke", "MOD")[0] == 0
    # Each change is a Security Configuration alert (110113, 110129) saying the list now.
    allowed, revoked, _, _ = audited(home, "110113", 4)  # and no fifth
    assert "110129" in allowed.xml and "VIEWER/query, MOD/store" in allowed.xml
    assert "listener access list is now: VIEWER/query" in revoked.xml


def test_a_bad_entry_is_refused_and_nothing_saved(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = cli(capsys, "access", "allow", "OK", "BAD=123")
    assert status != 0 and "64 hex digits" in err
    assert load_config(home).listener_access == []


def test_the_guis_listener_follows_the_access_list(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "access", "allow", "VIEWER/store")[0] == 0
    services = Services(home, lambda new: "unused")
    port = free_port()
    records: list[dict[str, Any]] = []
    services.start_inbox(InboxSettings("COURIER", port), records.append)
    try:
        keystore = Keystore(home, lambda new: "unused")
        for calling, refused in (("VIEWER", "does not offer C-FIND"), ("OTHER", "rejected")):
            node = Node("us", "COURIER", "127.0.0.1", port, calling_ae_title=calling)
            with pytest.raises((LinkError, QueryError), match=refused):
                list(find(node_connector(node, keystore), Peer("COURIER", calling), "study", {}))
    finally:
        services.stop_inbox()
    assert {r["event"] for r in records} >= {"access-refused", "association-rejected"}


def test_allow_cert_binds_the_entries_to_the_client_certificate_of_a_file(
    home: Path, capsys: pytest.CaptureFixture[str], pki: "Pki"
) -> None:
    """The file holds the client's certificate and its CA chain: the client's is the one."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    sha256 = hashlib.sha256(pki.client.certificate.public_bytes(Encoding.DER)).hexdigest()
    status, out, err = cli(
        capsys, "access", "allow", "VIEWER/query", "MOD", "--cert", pki.path("client")
    )
    assert status == 0, err
    assert out.split() == [f"VIEWER={sha256}/query", f"MOD={sha256}"]
    status, _, err = cli(capsys, "access", "allow", "CA", "--cert", pki.path("root-only"))
    assert status != 0 and "root-only.pem holds only CA certificates" in err
    status, _, err = cli(capsys, "access", "allow", f"X={sha256}", "--cert", pki.path("client"))
    assert status != 0 and "names its own fingerprint" in err
    assert len(load_config(home).listener_access) == 2


def test_a_running_listen_applies_a_revoke_from_the_next_association(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``listen`` without --allow-ae reads the configuration's list again when it changes:
    findscu, allowed, then revoked, is rejected without a restart."""
    import subprocess
    import sys

    from tests.helpers import require_tool
    from tests.peers import LOOPBACK, running

    assert cli(capsys, "access", "allow", "FINDSCU/query", "MOD/store")[0] == 0
    port = free_port()
    command = [sys.executable, "-m", "desktop.cli", "listen", "--port", str(port)]
    findscu = [require_tool("findscu"), "-S", "-aet", "FINDSCU", "-aec", "COURIER"]
    findscu += ["-k", "QueryRetrieveLevel=STUDY", LOOPBACK, str(port)]

    def query() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in findscu], capture_output=True, text=True, timeout=30, check=False
        )

    with running(command, port, tmp_path / "listen.log"):
        assert query().returncode == 0
        assert cli(capsys, "access", "revoke", "FINDSCU")[0] == 0
        refused = query()
    assert refused.returncode != 0 and "Association Rejected" in refused.stderr
    log = (tmp_path / "listen.log").read_text()
    assert "'FINDSCU' is not in the allowed list" in log


def test_a_configuration_broken_while_listening_refuses_everyone_and_says_why(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The access list cannot be read: no one is let in on a guess (the last list read might
    hold a title just revoked by hand); a good save lets them in again."""
    from desktop.core.config import config_path

    assert cli(capsys, "access", "allow", "VIEWER")[0] == 0
    services = Services(home, lambda new: "unused")
    port = free_port()
    records: list[dict[str, Any]] = []
    services.start_inbox(InboxSettings("COURIER", port), records.append)
    node = Node("us", "COURIER", "127.0.0.1", port, calling_ae_title="VIEWER")
    connector = node_connector(node, Keystore(home, lambda new: "unused"))
    try:
        assert list(find(connector, Peer("COURIER", "VIEWER"), "study", {})) == []
        config_path(home).write_text("{ not JSON", encoding="utf-8")
        with pytest.raises(LinkError, match="rejected"):
            list(find(connector, Peer("COURIER", "VIEWER"), "study", {}))
        assert cli(capsys, "access", "revoke", "NOBODY")[0] != 0  # the CLI says it too
        config_path(home).write_text('{"version": 1, "listener_access": ["VIEWER"]}')
        assert list(find(connector, Peer("COURIER", "VIEWER"), "study", {})) == []
    finally:
        services.stop_inbox()
    [rejected] = [r for r in records if r["event"] == "association-rejected"]
    assert rejected["reason"].startswith("the access list cannot be read, so no one is allowed")
