"""A command's closing flush while the audit repository is down or silent (F13): every command
waited the full 10 s TLS timeout and printed OpenSSL's '_ssl.c:989' text. It now waits a short
bounded time, says why in one plain line, and keeps every message spooled for later."""

import time
from pathlib import Path

import pytest

from tests.audit.forwarding import spooled
from tests.helpers import cli
from tests.peers import free_port, python_tls_server, server_context_for
from tests.pki import Pki

SHORT = 2  # seconds a closing flush waits per step (desktop.forwarding.FINISH_TIMEOUT)


def _forward_to(capsys: pytest.CaptureFixture[str], port: int) -> None:
    status, _, err = cli(capsys, "audit", "forward", "--host", "127.0.0.1", "--port", port,
                         "--identity", "courier")  # fmt: skip
    assert status == 0, err


def _flush_refused_by(capsys: pytest.CaptureFixture[str], pki: Pki, stem: str) -> str:
    """What ``audit flush`` says, failing, to a repository presenting the PKI's ``stem``."""
    with python_tls_server(server_context_for(pki, stem)) as port:
        _forward_to(capsys, port)
        status, _, err = cli(capsys, "audit", "flush")
    assert status != 0
    return err


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_a_silent_repository_holds_a_command_briefly_and_is_named_plainly(
    home: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with python_tls_server(None) as port:  # accepts, never answers
        _forward_to(capsys, port)
        before = spooled(home)
        caplog.clear()
        started = time.monotonic()
        status, out, _ = cli(capsys, "node", "list")
        waited = time.monotonic() - started
    assert status == 0, out  # the command itself is not failed
    assert waited < 4 * SHORT < 10  # the full TLS timeout was 10 s
    [warning] = _warnings(caplog)
    assert warning == (
        f"audit messages not forwarded: 127.0.0.1:{port} accepted the connection but did not "
        f"complete the TLS handshake within {SHORT} s; they stay spooled "
        f"({before + 2}) and go with the next command or `dicom-courier audit flush`"
    )  # this command's start and stop were added
    assert spooled(home) == before + 2


def test_a_repository_that_is_down_is_named_plainly_and_nothing_is_lost(
    home: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    _forward_to(capsys, port)
    caplog.clear()
    assert cli(capsys, "node", "list")[0] == 0
    [warning] = _warnings(caplog)
    assert warning.startswith(
        f"audit messages not forwarded: Connection refused by 127.0.0.1:{port};"
    )
    assert "_ssl.c" not in warning and "Errno" not in warning
    status, _, err = cli(capsys, "audit", "flush")
    assert status != 0
    assert f"Connection refused by 127.0.0.1:{port}; they stay spooled" in err
    assert spooled(home) >= 3


def test_a_repository_from_an_untrusted_ca_is_named_with_its_certificate(
    home: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    """Not "The server's certificate (the server's certificate) comes from a CA we do not
    trust (issuer: unknown)": its subject and issuer, as tls-check says them (tester's G12,
    4)."""
    err = _flush_refused_by(capsys, pki, "rogue_server")
    assert (
        "audit messages not forwarded: The server's certificate (CN=rogue-server.test,O=DICOM "
        "Courier) comes from a CA we do not trust (issuer: CN=Rogue Root CA,O=DICOM Courier)"
    ) in err, err


def test_a_repository_whose_certificate_is_revoked_takes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    """Once a CRL is imported, every TLS peer's certificate is checked against it (README):
    the audit repository's was not, so a revoked one still took the audit messages."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from desktop.security.pki import make_leaf
    from tests.pki import KEY_PASSWORD, revocation_list

    revoked = make_leaf("revoked-repository.test", pki.intermediate)
    revoked.write(pki.folder, "revoked-repository", KEY_PASSWORD)
    crl = pki.folder / "revoked-repository.crl"
    crl.write_bytes(revocation_list(pki.intermediate, revoked).public_bytes(Encoding.PEM))
    status, _, err = cli(capsys, "keystore", "import-crl", crl)
    assert status == 0, err
    err = _flush_refused_by(capsys, pki, "revoked-repository")
    assert (
        "audit messages not forwarded: The server's certificate (CN=revoked-repository.test,"
        "O=DICOM Courier) is revoked; they stay spooled"
    ) in err, err
    assert spooled(home) >= 1
