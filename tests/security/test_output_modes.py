"""Every command that writes patient data outside the home writes it privately, whatever the
umask: folders it makes 0700, files 0600 (G12 item 8 of findings7: sign made 0644 files,
unseal a 0755 folder, while deid made 0700/0600); a file signed in place keeps its mode."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.pki import Pki
from tests.security.signing_fixtures import ct_copy, signing_home, signing_keystore

__all__ = ["signing_home", "signing_keystore"]  # fixtures, used by name


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask of most desktops (022): new files 0644, folders 0755 unless made private."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def modes(folder: Path) -> set[tuple[str, int]]:
    """Each folder's and file's kind and permission bits under ``folder``, itself included."""
    return {
        ("folder" if p.is_dir() else "file", p.stat().st_mode & 0o777)
        for p in (folder, *folder.rglob("*"))
    }


def test_sign_seal_unseal_and_deid_write_patient_data_privately(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home: Path,
    pki: Pki,
    usual_umask: None,
) -> None:
    source = ct_copy(tmp_path / "media" / "a", "ct.dcm")
    private = {("folder", 0o700), ("file", 0o600)}
    for command, out in (
        (("sign", tmp_path / "media", "--identity", "courier"), "signed"),
        (("seal", tmp_path / "media", "--recipient", pki.path("client")), "sealed"),
        (("unseal", tmp_path / "sealed", "--identity", "courier"), "unsealed"),
        (("deid", tmp_path / "media"), "deidentified"),
    ):
        status, _, err = cli(capsys, *command, "--out", tmp_path / out / "new")
        assert status == 0, err
        assert modes(tmp_path / out / "new") == private, command[0]
    source.chmod(0o644)
    status, _, err = cli(capsys, "sign", source, "--identity", "courier", "--in-place")
    assert status == 0, err
    assert source.stat().st_mode & 0o777 == 0o644  # in place: the file's own mode is kept
