"""A node that signs its copies and compresses for the wire: the signed copies go as they
were signed, so that DCMTK's dcmsign and our verify find their signatures valid, each
with a note saying why it was not compressed (tester's F11: every copy arrived JPEG-LS
compressed with an INVALID signature)."""

from pathlib import Path

import pydicom
import pytest

from tests.helpers import cli, node_add
from tests.net.conftest import make_study
from tests.peers import free_port, storescp_plain
from tests.pki import Pki
from tests.security.signing_fixtures import dcmsign_verify, verify_json

COUNT = 3
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"


@pytest.mark.parametrize("compress", ["jpeg-ls-lossless", "j2k-lossless", "rle"])
def test_signed_copies_are_not_compressed_out_of_their_signature(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home_copy: Path,
    pki: Pki,
    compress: str,
) -> None:
    make_study(tmp_path / "study", count=COUNT)  # uncompressed 16-bit CT: compressible
    port, received = free_port(), tmp_path / "received"
    status, out, err = cli(
        capsys, *node_add("PACS", "DCMTK_SCP", port, "--sign-profile", "base",
                          "--sign-identity", "courier", "--compress", compress),
    )  # fmt: skip
    assert status == 0, err
    assert f"compresses {compress}, never its signed copies (compressed, they would fail" in out
    with storescp_plain(received, port, "+xa"):  # it would accept every compressed transfer syntax
        status, out, err = cli(capsys, "send", "PACS", tmp_path / "study")
    assert status == 0, (out, err)
    assert f"sent {COUNT} of {COUNT}" in out and "compressed" not in out, out
    assert err.count("it is digitally signed, and a compressed copy would fail") == COUNT, err
    files = sorted(received.iterdir())
    assert len(files) == COUNT
    for path in files:
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == EXPLICIT_LITTLE
        checked = dcmsign_verify(pki, path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    status, report = verify_json(capsys, *files)
    assert status == 0, report
    assert [f["signatures"][0]["verdict"] for f in report["files"]] == ["valid"] * COUNT
