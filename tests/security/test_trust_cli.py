"""The keystore and tls-check commands, as scripts use them."""

import datetime as dt
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from desktop.security.pki import Issued
from tests.helpers import cli, require_tool, sample_file
from tests.peers import free_port, running, storescp_tls_command
from tests.pki import KEY_PASSWORD, Pki, revocation_list

#: A certificate name chosen to drive a terminal (retitle it, clear the screen), and how the
#: commands must show it instead.
HOSTILE = "evil\x1b]0;owned\x07\x1b[2J"
SHOWN = "CN=evil\\x1b]0\\;owned\\x07\\x1b[2J"


def import_site_a(
    capsys: pytest.CaptureFixture[str], pki: Pki, key_password_file: Path
) -> tuple[int, str, str]:
    """Import the client PKCS#12 as identity 'site-a'."""
    return cli(
        capsys,
        "keystore",
        "import-identity",
        "site-a",
        pki.path("client", ".p12"),
        "--file-password-file",
        key_password_file,
    )


@pytest.fixture
def key_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "file-password"
    path.write_text(KEY_PASSWORD + "\n")
    return path


def test_keystore_commands(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    pki: Pki,
    keystore_password: str,
    key_password_file: Path,
) -> None:
    status, out, _ = cli(capsys, "keystore", "import-ca", pki.path("cas", ".p7b"))
    assert status == 0 and out.count("added") == 2
    status, out, err = import_site_a(capsys, pki, key_password_file)
    assert status == 0 and "added CN=client.test" in out and "serverAuth" in err
    status, out, _ = cli(capsys, "keystore", "list", "--json")
    listing = json.loads(out)
    assert [i["id"] for i in listing["identities"]] == ["site-a"]
    assert len(listing["trusted_cas"]) == 2
    ca_id = listing["trusted_cas"][0]["id"]
    status, out, _ = cli(capsys, "keystore", "show", "site-a")
    assert "extended usage: clientAuth" in out and "SHA-256" in out
    status, out, _ = cli(capsys, "keystore", "export-cert", ca_id, home / "ca.pem")
    assert status == 0 and (home / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE")
    status, _, err = cli(capsys, "keystore", "export-cert", ca_id, home)  # a folder (E9)
    assert status == 1 and err == f"dicom-courier: cannot write {home}: it is a folder\n"
    status, out, _ = cli(capsys, "keystore", "remove", ca_id)
    assert status == 0 and "removed trusted CA" in out


def test_export_cert_writes_into_a_fifo_and_through_a_link_never_replacing_them(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, tmp_path: Path
) -> None:
    """``export-cert ID /dev/stdout | openssl x509`` (F1 of findings9): a device, a FIFO or a
    symbolic link at the output is written to or through, as cp does, never replaced by a
    file (as root, /dev/null or /dev/full were)."""
    cli(capsys, "keystore", "import-ca", pki.path("root", ".pem"))
    ca_id = json.loads(cli(capsys, "keystore", "list", "--json")[1])["trusted_cas"][0]["id"]
    fifo = tmp_path / "pipe.pem"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # as a shell pipe's reader
    try:
        status, _, _ = cli(capsys, "keystore", "export-cert", ca_id, fifo)
        try:
            written = os.read(reader, 65536)
        except BlockingIOError:  # nothing ever wrote into it
            written = b""
    finally:
        os.close(reader)
    assert written.startswith(b"-----BEGIN CERTIFICATE")
    assert status == 0 and stat.S_ISFIFO(fifo.lstat().st_mode)
    kept = tmp_path / "trust" / "root.pem"
    kept.parent.mkdir()
    kept.write_text("old")
    link = tmp_path / "root-link.pem"
    link.symlink_to(kept)
    status, _, _ = cli(capsys, "keystore", "export-cert", ca_id, link)
    assert status == 0 and link.is_symlink()
    assert kept.read_text().startswith("-----BEGIN CERTIFICATE")
    assert sorted(p.name for p in kept.parent.iterdir()) == ["root.pem"]


def test_refusal_is_one_line_with_the_reason(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    pki: Pki,
    keystore_password: str,
    key_password_file: Path,
) -> None:
    status, _, err = cli(
        capsys,
        "keystore",
        "import-identity",
        "old",
        pki.path("expired"),
        "--key",
        pki.path("expired", ".key"),
        "--file-password-file",
        key_password_file,
    )
    assert status == 1 and err.count("\n") == 1 and "expired on" in err


def test_password_file_option(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    pki: Pki,
    tmp_path: Path,
    key_password_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DICOM_COURIER_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    secret = tmp_path / "keystore-password"
    secret.write_text("a long keystore password\n")
    arguments = (
        "keystore",
        "import-identity",
        "a",
        pki.path("client", ".p12"),
        "--file-password-file",
        key_password_file,
    )
    status, _, err = cli(capsys, *arguments)
    assert status == 1 and "no terminal to ask on" in err
    status, _, _ = cli(capsys, *arguments, "--password-file", secret)
    assert status == 0


def test_tls_check_success_and_failure(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    pki: Pki,
    keystore_password: str,
    key_password_file: Path,
    tmp_path: Path,
) -> None:
    cli(capsys, "keystore", "import-ca", pki.path("root-only"))
    import_site_a(capsys, pki, key_password_file)
    port = free_port()
    with running(storescp_tls_command(pki, tmp_path, port), port, tmp_path / "scp.log"):
        status, out, _ = cli(
            capsys, "tls-check", "127.0.0.1", port, "--identity", "site-a", "--json"
        )
        assert status == 0
        transcript = json.loads(out)
        assert transcript["ok"] and transcript["protocol"] == "TLSv1.3"
        status, out, err = cli(capsys, "tls-check", "127.0.0.1", port)
        assert status == 1
        assert err.splitlines()[0].startswith(
            "The peer requires a client certificate and we sent none"
        )
        assert out.startswith("TLS FAILED")
        cli(capsys, "node", "add", "Site B", "--ae", "B", "--host", "127.0.0.1", "--port", port)
        status, _, err = cli(capsys, "tls-check", "Site B")
        assert status == 1 and "not a TLS node" in err
        cli(capsys, "node", "edit", "Site B", "--tls", "--identity", "site-a")
        status, _, err = cli(capsys, "tls-check", "Site B", "--identity", "other")
        assert status == 1 and "uses the node's own settings: drop --identity" in err
        status, out, _ = cli(capsys, "tls-check", "Site B", "--json")  # the node's own settings
        assert status == 0 and json.loads(out)["protocol"] == "TLSv1.3"
    status, _, err = cli(capsys, "tls-check", "Site C")
    assert status == 1 and "no node named 'Site C'" in err


def _crl(issuer: Issued, next_update_days: int, out: Path) -> Path:
    """A CRL of ``issuer`` revoking nothing, due for renewal in ``next_update_days``."""
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now - dt.timedelta(days=1))
        .next_update(now + dt.timedelta(days=next_update_days))
        .sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    out.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return out


def test_crls_are_listed_warned_of_removable_and_only_from_a_trusted_ca(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Tester's finding 38: imported CRLs were invisible, irremovable, and any was taken."""
    assert cli(capsys, "keystore", "import-ca", pki.path("bundle"))[0] == 0
    status, _, err = cli(
        capsys, "keystore", "import-crl", _crl(pki.rogue_root, 30, tmp_path / "rogue.crl")
    )
    assert status == 1 and "issuer CN=Rogue Root CA,O=DICOM Courier is not a CA the keystore" in err
    soon = _crl(pki.intermediate, 3, tmp_path / "soon.crl")
    assert cli(capsys, "keystore", "import-crl", soon)[0] == 0
    shown = subprocess.run(
        [require_tool("openssl"), "crl", "-in", soon, "-noout", "-nextupdate"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    due = dt.datetime.strptime(shown.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z")
    status, out, _ = cli(capsys, "keystore", "list")
    assert status == 0 and "CRLs (1):" in out
    assert "CN=Test Intermediate CA,O=DICOM Courier  0 revoked" in out
    assert f"next update {due:%Y-%m-%d}" in out and "warning: next update due in" in out
    status, out, _ = cli(capsys, "keystore", "list", "--json")
    [listed] = json.loads(out)["crls"]
    assert listed["revoked"] == 0 and "due in" in listed["warning"]
    status, out, _ = cli(capsys, "keystore", "remove", listed["id"][:8])
    assert status == 0 and "removed CRL of CN=Test Intermediate CA" in out
    assert json.loads(cli(capsys, "keystore", "list", "--json")[1])["crls"] == []


def test_keystore_list_says_what_the_crls_revoke(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str,
    key_password_file: Path, tmp_path: Path,
) -> None:  # fmt: skip
    """An identity a CRL of the keystore revokes is said REVOKED, and why (as the GUI's
    table marks it); a CA the root's CRL revokes likewise, and the identities it issued."""
    assert cli(capsys, "keystore", "import-ca", pki.path("bundle"))[0] == 0
    assert import_site_a(capsys, pki, key_password_file)[0] == 0
    assert cli(capsys, "keystore", "import-crl", pki.path("intermediate", ".crl"))[0] == 0
    status, out, _ = cli(capsys, "keystore", "list")
    assert status == 0 and "REVOKED" not in out
    stolen = pki.path("revoked", ".p12")
    cli(capsys, "keystore", "import-identity", "stolen", stolen,
        "--file-password-file", key_password_file)  # fmt: skip
    status, out, _ = cli(capsys, "keystore", "list")
    [said] = [line for line in out.splitlines() if "REVOKED" in line]
    lines = out.splitlines()
    assert lines[lines.index(said) - 1].startswith("  stolen  CN=revoked.test")
    assert said.startswith("    REVOKED: CN=revoked.test,O=DICOM Courier was revoked on ")
    assert said.endswith(" UTC, by a revocation list of the keystore")
    listed = json.loads(cli(capsys, "keystore", "list", "--json")[1])
    by_name = {i["id"]: i["revoked"] for i in listed["identities"]}
    assert by_name["site-a"] == "" and by_name["stolen"].startswith("CN=revoked.test")

    root_crl = tmp_path / "root.crl"
    root_crl.write_bytes(
        revocation_list(pki.root, pki.intermediate).public_bytes(serialization.Encoding.PEM)
    )
    assert cli(capsys, "keystore", "import-crl", root_crl)[0] == 0
    listed = json.loads(cli(capsys, "keystore", "list", "--json")[1])
    cas = {c["subject"]: c["revoked"] for c in listed["trusted_cas"]}
    assert cas["CN=Test Root CA,O=DICOM Courier"] == ""
    assert cas["CN=Test Intermediate CA,O=DICOM Courier"].startswith(
        "CN=Test Intermediate CA,O=DICOM Courier was revoked on "
    )
    site_a = next(i for i in listed["identities"] if i["id"] == "site-a")
    assert site_a["revoked"].startswith("CN=Test Intermediate CA")


def test_removing_an_identity_in_use_is_refused_unless_forced(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str,
    key_password_file: Path,
) -> None:  # fmt: skip
    """Its private key goes for good: while a node or the audit forwarding uses it, `keystore
    remove` refuses and names them (tester's G10); --force removes it all the same."""
    from tests.helpers import node_add

    assert cli(capsys, "keystore", "import-ca", pki.path("bundle"))[0] == 0
    assert import_site_a(capsys, pki, key_password_file)[0] == 0
    for name in ("pacs", "archive"):
        added = cli(capsys, *node_add(name, "PACS", 104, "--tls", "--identity", "site-a"))
        assert added[0] == 0, added
    assert cli(capsys, "audit", "forward", "--host", "127.0.0.1", "--identity", "site-a")[0] == 0
    status, out, err = cli(capsys, "keystore", "remove", "site-a")
    assert (status, out) == (1, "")
    assert err.endswith(  # after the forwarding's own warning: nothing listens there
        "dicom-courier: identity site-a is used by node pacs, node archive, the audit "
        "forwarding: they would stop working, and its private key would be deleted for good; "
        "change them first, or remove it anyway with --force\n"
    )
    assert (home / "keystore" / "identities" / "site-a.p12").exists()
    status, out, _ = cli(capsys, "keystore", "remove", "site-a", "--force")
    assert status == 0 and out.startswith("removed identity site-a (CN=client.test")
    assert not (home / "keystore" / "identities" / "site-a.p12").exists()


def test_an_identity_no_trusted_ca_issued_is_warned_of(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str,
    key_password_file: Path,
) -> None:  # fmt: skip
    """Taken without a word before (tester's G12, 6): peers that trust what the keystore
    trusts refuse it."""
    assert cli(capsys, "keystore", "import-ca", pki.path("bundle"))[0] == 0
    status, _, err = import_site_a(capsys, pki, key_password_file)
    assert status == 0 and "no CA the keystore trusts" not in err
    status, out, err = cli(capsys, "keystore", "import-identity", "rogue",
                           pki.path("rogue_client", ".p12"), "--file-password-file",
                           key_password_file)  # fmt: skip
    assert status == 0 and out.startswith("added CN=rogue-client.test")
    assert (
        "warning: no CA the keystore trusts issued CN=rogue-client.test,O=DICOM Courier (issuer "
        "CN=Rogue Root CA,O=DICOM Courier): TLS peers that trust the same CAs refuse identity "
        "rogue; import its CA (keystore import-ca) if it is to be trusted"
    ) in err


def test_a_failed_tls_check_names_no_question_mark(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str
) -> None:
    """Our address is not known after a handshake the peer cut: "us", not "?" (tester's
    G12, 7)."""
    import socket
    import threading

    cli(capsys, "keystore", "import-ca", pki.path("root-only"))
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def cut() -> None:
            connection, _ = server.accept()
            connection.close()

        threading.Thread(target=cut, daemon=True).start()
        status, out, err = cli(capsys, "tls-check", "127.0.0.1", port)
    assert status == 1 and out.startswith(f"TLS FAILED: us -> 127.0.0.1:{port} (client, "), (
        out,
        err,
    )


def test_an_identity_file_without_a_key_is_said_in_plain_words(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """A certificate without its key, a file that is no PKCS#12: what to give instead, not
    the library's sentence (tester's G12, 10)."""
    status, _, err = cli(capsys, "keystore", "import-identity", "x3", pki.path("ec"))
    assert (status, err) == (
        1,
        "dicom-courier: ec.pem holds a certificate but no private key: give the key with --key "
        "FILE, or import the PKCS#12 (.p12/.pfx) file\n",
    )
    (other := tmp_path / "DICOMDIR").write_bytes(b"\0" * 200)
    status, _, err = cli(capsys, "keystore", "import-identity", "x4", other)
    assert status == 1 and "DICOMDIR is not a PKCS#12 file (.p12/.pfx)" in err
    assert "deserialize" not in err


def test_a_servers_certificate_names_are_shown_never_obeyed_by_the_terminal(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str
) -> None:
    """Any server's certificate is printed by tls-check, before anyone trusts it: a subject
    holding ESC sequences retitled or cleared the operator's terminal (E15 of findings8)."""
    from desktop.security.pki import make_leaf
    from tests.peers import python_tls_server, server_context_for

    hostile = make_leaf(HOSTILE, pki.intermediate)
    hostile.write(pki.folder, "hostile-subject", KEY_PASSWORD)
    cli(capsys, "keystore", "import-ca", pki.path("root-only"))
    with python_tls_server(server_context_for(pki, "hostile-subject")) as port:
        status, out, err = cli(capsys, "tls-check", "127.0.0.1", port)
    assert status == 0 and SHOWN in out, out + err
    assert not _obeyed(out + err)


def test_a_refused_servers_certificate_named_by_echo_and_send_is_shown_never_obeyed(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    pki: Pki,
    keystore_password: str,
    key_password_file: Path,
    tmp_path: Path,
) -> None:
    """echo's and send's reason for a TLS refusal names the server's certificate, which any
    server chooses: its escape sequences reached the terminal (E15 of findings8)."""
    from desktop.security.pki import make_leaf
    from tests.peers import python_tls_server, server_context_for

    make_leaf(HOSTILE, pki.rogue_root).write(pki.folder, "hostile-rogue", KEY_PASSWORD)
    cli(capsys, "keystore", "import-ca", pki.path("root-only"))
    import_site_a(capsys, pki, key_password_file)
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "ct.dcm").write_bytes(sample_file("CT_small.dcm").read_bytes())
    with python_tls_server(server_context_for(pki, "hostile-rogue")) as port:
        node = ["--ae", "EVIL", "--host", "127.0.0.1", "--port", port, "--tls"]
        cli(capsys, "node", "add", "evil", *node, "--identity", "site-a")
        echoed = cli(capsys, "echo", "evil")
        sent = cli(capsys, "send", "evil", tmp_path / "study")
    for status, out, err in (echoed, sent):
        assert status == 1 and SHOWN in err, out + err
        assert not _obeyed(out + err)


def test_a_keystore_certificates_names_are_shown_never_obeyed_by_the_terminal(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    pki: Pki,
    keystore_password: str,
    key_password_file: Path,
) -> None:
    """``keystore list`` prints each CA's and identity's subject, which their issuer chose:
    an identity imported with ESC sequences in its name drove the terminal (E15 of findings8,
    left after tls-check's)."""
    from desktop.security.pki import make_leaf

    hostile = make_leaf(HOSTILE, pki.intermediate)
    (p12 := home.parent / "hostile.p12").write_bytes(hostile.pkcs12(KEY_PASSWORD))
    cli(capsys, "keystore", "import-ca", pki.path("root-only"))
    imported = cli(
        capsys, "keystore", "import-identity", "hostile", p12, "--file-password-file",
        key_password_file,
    )  # fmt: skip
    assert imported[0] == 0, imported
    status, out, err = cli(capsys, "keystore", "list")
    assert status == 0 and SHOWN in out, out + err
    assert not _obeyed(out + err)
    # a file signed by it: verify names its signer, which a file's sender chooses
    (study := home.parent / "study").mkdir()
    (study / "ct.dcm").write_bytes(sample_file("CT_small.dcm").read_bytes())
    signed = cli(capsys, "sign", "--identity", "hostile", "--out", home.parent / "signed", study)
    assert signed[0] == 0, signed
    status, out, err = cli(capsys, "verify", "--allow-unsigned", home.parent / "signed")
    assert SHOWN in out, out + err
    assert not _obeyed(out + err)


def _obeyed(text: str) -> bool:
    """Whether ``text`` holds a control character a terminal would obey (ESC, BEL)."""
    return "\x1b" in text or "\x07" in text


def test_a_port_answering_another_protocol_is_said_so_not_a_silent_close(
    capsys: pytest.CaptureFixture[str], home: Path, pki: Pki, keystore_password: str
) -> None:
    """F7 of findings9: a TLS node's port where another service answers (an SSH or SMTP
    banner, a web server's "HTTP/1.1 400") was "closed the connection during the TLS
    handshake without saying why"."""
    import socket
    import threading

    cli(capsys, "keystore", "import-ca", pki.path("root-only"))
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def banner() -> None:  # the handshake, then the plain DICOM probe
            for _ in range(2):
                connection, _ = server.accept()
                with connection:
                    connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                    connection.recv(65536)

        threading.Thread(target=banner, daemon=True).start()
        status, out, err = cli(capsys, "tls-check", "127.0.0.1", port)
    said = f"127.0.0.1:{port} answered, but neither in TLS nor in DICOM. Another kind of service"
    assert status == 1 and err.startswith(said), err
    assert "without saying why" not in out + err
