"""A node that signs before sending: DCMTK's storescp receives signed copies, sources stay."""

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.helpers import cli, node_add, sample_file
from tests.peers import free_port, storescp_plain
from tests.pki import Pki
from tests.security.signing_fixtures import dcmsign_verify, verify_json


def test_signed_copies_are_sent_and_cleaned_up(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home_copy: Path,
    pki: Pki,
) -> None:
    home = signing_home_copy
    media = tmp_path / "media"
    media.mkdir()
    for name in ("CT_small.dcm", "MR_small_implicit.dcm"):
        shutil.copy(sample_file(name), media / name)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in media.iterdir()}
    port, received = free_port(), tmp_path / "received"
    status, out, err = cli(
        capsys, *node_add("PACS", "DCMTK_SCP", port, "--sign-profile", "creator",
                          "--sign-identity", "courier"),
    )  # fmt: skip
    assert status == 0, err
    assert "signs copies, creator profile, as courier" in out
    with storescp_plain(received, port):
        status, out, err = cli(capsys, "send", "PACS", media)
    assert status == 0, err
    assert "sent 2 of 2" in out
    files = sorted(received.iterdir())
    assert len(files) == 2
    for path in files:
        assert dcmsign_verify(pki, path).returncode == 0
    status, report = verify_json(capsys, *files)
    signatures = [f["signatures"][0] for f in report["files"]]
    assert (
        status == 0
        and [(s["verdict"], s["profile"]) for s in signatures] == [("valid", "creator")] * 2
    )
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in media.iterdir()}
    assert after == before
    assert list((home / "signing").iterdir()) == []
    # a failed send keeps its signed copies for 'queue retry'; cancelling the job removes them
    closed = free_port()
    status, _, err = cli(capsys, *node_add("Down", "DCMTK_SCP", closed, "--sign-profile", "base",
                                           "--sign-identity", "courier-ec"))  # fmt: skip
    assert status == 0, err
    status, out, _ = cli(capsys, "send", "Down", media, "--attempts", "1")
    assert status == 1 and "sent 0 of 2" in out
    [kept] = (home / "signing").iterdir()
    assert len(list(kept.iterdir())) == 2
    job = out.rsplit("job ", 1)[1].split()[0]
    status, _, err = cli(capsys, "queue", "cancel", job)
    assert status == 0, err
    assert list((home / "signing").iterdir()) == []
    status, _, err = cli(capsys, "node", "add", "Bad", "--ae", "X", "--host", "h", "--port",
                         "1", "--sign-profile", "creator")  # fmt: skip
    assert status == 1 and "needs the identity that signs" in err
