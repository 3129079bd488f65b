"""Forwarding to a real audit repository (rsyslogd + rsyslog-gnutls) over mutual TLS: every
message arrives, and those spooled while the repository was down arrive once it is back."""

import argparse
import time
from pathlib import Path

import pytest

from desktop import auditing
from desktop.commands.audit import session
from desktop.core.audit.forward import Drainer, Forwarder, ForwardError, ForwardSettings, Spool
from desktop.core.audit.store import AuditLog
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile, client_context
from tests.audit.forwarding import PASSWORD, PEER_NAME, spooled
from tests.audit.rsyslog import repository
from tests.audit.schema import schema_errors
from tests.helpers import cli
from tests.pki import Pki

BOM = b"\xef\xbb\xbf"


def xml_of(line: bytes) -> bytes:
    return line.split(BOM, 1)[1]


def test_messages_reach_the_repository_and_survive_its_outage(
    home: Path,
    pki: Pki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with repository(pki, tmp_path / "rsyslog", permitted_peer=PEER_NAME) as server:
        status, out, err = cli(
            capsys,
            "audit",
            "forward",
            "--host",
            "127.0.0.1",
            "--port",
            server.port,
            "--identity",
            "courier",
        )
        assert status == 0, err
        assert cli(capsys, "node", "list")[0] == 0  # start and stop, forwarded as it ends
        received = server.wait_for(3)  # forwarding turned on, then start and stop
        assert server.sequence_ids() == [1, 2, 3]
        assert b"Security Configuration" in received[0]
        for line in received:
            assert line.startswith(b"<85>1 ")
            assert b" DICOM-Courier " in line and b" DICOM+RFC3881 " in line
            assert schema_errors(xml_of(line)) == []

        server.stop()
        for _ in range(2):
            caplog.clear()
            assert cli(capsys, "node", "list")[0] == 0  # the command itself is not failed
            assert "they stay spooled" in caplog.text
        assert spooled(home) == 4

        server.start()
        status, out, err = cli(capsys, "audit", "flush")
        assert status == 0, err
        assert "sent 4 of 4" in out
        server.wait_for(7)
        assert server.sequence_ids() == [1, 2, 3, 4, 5, 6, 7]
        assert not spooled(home)
    status, out, _ = cli(capsys, "audit", "verify")
    assert status == 0 and "7 record(s)" in out


def test_a_repository_refusing_our_certificate_takes_nothing(pki: Pki, tmp_path: Path) -> None:
    """rsyslog checks the permitted name after the handshake and closes: nothing is lost."""
    spool = Spool(tmp_path / "spool")
    for number in (1, 2, 3):
        spool.put(number, f'<85>1 - - - - DICOM+RFC3881 [meta sequenceId="{number}"] x'.encode())
    with repository(pki, tmp_path / "rsyslog", permitted_peer=PEER_NAME) as server:
        trusted = pki.path("root-only").read_text()
        context = client_context(Profile("bcp195-nd"), trusted, pki.unlocked(pki.client))
        settings = ForwardSettings("127.0.0.1", server.port)
        # more time to refuse than in use: a loaded CI machine may be slow to schedule rsyslog
        forwarder = Forwarder(spool, settings, context, refusal_wait=3.0)
        with pytest.raises(ForwardError, match="stay spooled"):
            forwarder.flush()
        assert len(spool.pending()) == 3
        assert server.messages() == []


def test_a_long_running_session_forwards_in_the_background_once_the_repository_is_back(
    home: Path, pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool")
    keystore = Keystore(home, lambda new: PASSWORD)
    trusted = keystore.trusted_pem()
    context = client_context(Profile("bcp195-nd"), trusted, keystore.unlock_identity("courier"))
    with repository(pki, tmp_path / "rsyslog", permitted_peer=PEER_NAME) as server:
        server.stop()
        forwarder = Forwarder(spool, ForwardSettings("127.0.0.1", server.port), context)
        drainer = Drainer(forwarder.flush, interval=0.2).start()
        for number in (1, 2, 3):
            spool.put(
                number, f'<85>1 - - - - DICOM+RFC3881 [meta sequenceId="{number}"] x'.encode()
            )
            drainer.wake()
        time.sleep(0.5)
        assert len(spool.pending()) == 3
        assert caplog.text.count("stay spooled") == 1  # said once per outage
        server.start()
        server.wait_for(3)
        drainer.stop()
        assert server.sequence_ids() == [1, 2, 3]
        assert spool.pending() == []


def test_a_gui_session_forwards_once_the_user_unlocked_the_keystore(
    home: Path,
    pki: Pki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No password in the environment: nothing is asked for forwarding; the first unlock the
    user makes for other work (a send) lets the session forward in the background."""
    with repository(pki, tmp_path / "rsyslog", permitted_peer=PEER_NAME) as server:
        forward = ("audit", "forward", "--host", "127.0.0.1", "--port", server.port)
        assert cli(capsys, *forward, "--identity", "courier")[0] == 0
        monkeypatch.delenv("DICOM_COURIER_KEYSTORE_PASSWORD")
        with session(argparse.Namespace(long_running=True)):
            time.sleep(1.5)
            assert server.messages() == []  # nobody unlocked the keystore yet
            auditing.unlock(Keystore(home, lambda new: PASSWORD), "courier")  # as a send does
            server.wait_for(3)  # forwarding turned on, start, unlock
        server.wait_for(4)  # the stop, on the drainer's last flush
        assert server.sequence_ids() == [1, 2, 3, 4]
        assert len(list(AuditLog(home / "audit").entries())) == 4
