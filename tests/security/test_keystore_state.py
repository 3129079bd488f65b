"""The keystore shared by processes: one password whoever imports first; damaged entries
reported and skipped."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.security.keystore import Keystore
from tests.helpers import cli
from tests.peers import python_tls_server, server_context_for
from tests.pki import KEY_PASSWORD, Pki, prepare_home

IMPORT_IDENTITY = (sys.executable, "-m", "desktop.cli", "keystore", "import-identity")


def test_first_imports_in_parallel_leave_one_password(tmp_path: Path, pki: Pki) -> None:
    """Four first-time imports, two passwords: those with the password set first succeed, the
    others are refused, and every identity kept opens with the keystore's password."""
    home = tmp_path / "home"
    environment = {**os.environ, "DICOM_COURIER_HOME": str(home)}
    environment.pop("DICOM_COURIER_KEYSTORE_PASSWORD", None)
    (tmp_path / "key").write_text(KEY_PASSWORD)
    passwords = {}
    for n in range(4):
        passwords[f"site-{n}"] = f"password number {n % 2}"
        (tmp_path / f"site-{n}").write_text(passwords[f"site-{n}"])
    imports = {
        name: subprocess.Popen(
            [
                *IMPORT_IDENTITY,
                name,
                pki.path("client", ".p12"),
                "--password-file",
                tmp_path / name,
                "--file-password-file",
                tmp_path / "key",
            ],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in passwords
    }
    errors = {
        name: process.communicate(timeout=120)[1].decode() for name, process in imports.items()
    }
    kept = [name for name, process in imports.items() if process.returncode == 0]
    assert kept, errors
    password = passwords[kept[0]]
    assert {passwords[name] for name in kept} == {password}
    for name in set(passwords) - set(kept):
        assert "already has a password" in errors[name] or "wrong keystore password" in errors[name]
    keystore = Keystore(home, lambda new: password)
    assert sorted(i.name for i in keystore.identities()) == sorted(kept)
    for name in kept:
        assert keystore.unlock_identity(name).name == name


def test_damaged_entries_are_listed_and_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path / "home", monkeypatch, pki, "client", "keystore password")
    (home / "keystore" / "trusted" / "0000000000000000.pem").write_text("-----BEGIN CERTIFICATE-")
    (home / "keystore" / "identities" / "broken.json").write_text("{not json")
    keyless = home / "keystore" / "identities" / "keyless.json"
    keyless.write_bytes((home / "keystore" / "identities" / "courier.json").read_bytes())
    status, out, _ = cli(capsys, "keystore", "list")
    assert status == 0 and "courier" in out
    assert "Damaged entries, skipped (3" in out
    assert "keyless.json: its private key file (.p12) is missing" in out
    assert "0000000000000000.pem: 0000000000000000.pem: no certificate found" in out
    assert "broken.json: the keystore entry broken.json is damaged" in out
    status, out, _ = cli(capsys, "keystore", "list", "--json")
    listing = json.loads(out)
    assert [i["id"] for i in listing["identities"]] == ["courier"]
    assert len(listing["damaged"]) == 3 and len(listing["trusted_cas"]) == 1
    with python_tls_server(server_context_for(pki, "server")) as port:
        status, out, err = cli(capsys, "tls-check", "127.0.0.1", port, "--identity", "courier")
    assert status == 0 and out.startswith("TLS OK"), out + err
    assert "0000000000000000.pem skipped: " in err


def test_a_damaged_identity_says_so_when_used(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_home(tmp_path / "home", monkeypatch, pki, "client", "keystore password")
    (home / "keystore" / "identities" / "courier.p12").write_bytes(b"\x30\x03garbage")
    status, _, err = cli(capsys, "tls-check", "127.0.0.1", 9, "--identity", "courier")
    assert status == 1
    assert err.startswith("dicom-courier: the identity 'courier' is damaged (courier.p12: ")
