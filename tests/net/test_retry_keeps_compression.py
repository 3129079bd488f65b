"""A job keeps the compression its send asked for: ``send --compress`` to a peer that is
down fails, and once the peer is up ``queue retry`` and ``queue run`` send it compressed, as
asked, and say so (the retried job went uncompressed, without a word). The peer: DCMTK's
storescp preferring JPEG-LS lossless (+xt); pixels compared as decoded arrays."""

from pathlib import Path

import pytest
from pydicom.uid import JPEGLSLossless

from tests.helpers import cli, node_add
from tests.net.test_send_compressed import assert_same_pixels, varied_instances
from tests.peers import free_port, storescp_plain

pytestmark = pytest.mark.dcmtk


def test_a_retried_job_keeps_the_compression_it_was_sent_with(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    sources = varied_instances(tmp_path / "study")
    port, received = free_port(), tmp_path / "received"
    assert cli(capsys, *node_add("peer", "DCMTK_SCP", port))[0] == 0
    status, _, err = cli(
        capsys, "send", "peer", tmp_path / "study", "--compress", "jpeg-ls-lossless",
        "--attempts", "1",
    )  # fmt: skip
    assert status == 1 and "refused" in err  # nothing listens yet
    status, listed, _ = cli(capsys, "queue")
    assert "[--compress jpeg-ls-lossless]" in listed
    assert cli(capsys, "queue", "retry", "1")[0] == 0
    with storescp_plain(received, port, "+xt"):
        status, out, err = cli(capsys, "queue", "run")
    assert status == 0, out + err
    assert f"compressed {len(sources)} instance(s) with JPEG-LS lossless" in out
    assert_same_pixels(sources, received, JPEGLSLossless)
