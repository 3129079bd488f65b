"""Retry failed in the Transfers tab sends a command-line job with the compression its send
asked for, not the node's default (it went uncompressed, without a word)."""

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import JPEGLSLossless

from desktop.core.config import Node, add_node
from desktop.demo import Demo
from tests.helpers import cli
from tests.peers import LOOPBACK, free_port, storescp_plain
from tests.ui.scripted import ScriptedPrompter
from tests.ui.windows import click_on_job, demo_series, stop_transfers, window_on


def test_retry_by_clicking_sends_a_command_line_job_with_its_own_compression(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    demo: Demo,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    port, received = free_port(), tmp_path / "received"
    add_node(demo.home, Node("Night PACS", "DCMTK_SCP", LOOPBACK, port, connect_timeout=2))
    series, count = demo_series(demo)
    status, _, _ = cli(
        capsys, "send", "Night PACS", series, "--compress", "jpeg-ls-lossless", "--attempts", "1"
    )
    assert status == 1  # nothing listens yet
    window = window_on(qtbot, demo, prompter)
    # +xt: storescp prefers JPEG-LS lossless, still takes uncompressed
    with storescp_plain(received, port, "+xt"):
        click_on_job(qtbot, window, 1, "Retry failed")
        qtbot.waitUntil(lambda: window.transfers.progress_of(1) == (count, count), timeout=30000)
    stop_transfers(qtbot, window)
    syntaxes = {
        str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        for p in received.iterdir()
    }
    assert len(list(received.iterdir())) == count and syntaxes == {JPEGLSLossless}, syntaxes
