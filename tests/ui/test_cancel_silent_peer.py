"""Quitting (stop_all, as on SIGTERM) while a transfer waits on a silent peer ends the worker
within a second, not after the node's 60 s network timeout (F4-n1), a storage commitment
request's too."""

import threading
import time
from pathlib import Path

import pytest

from desktop.core.config import Node, add_node
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.ui.shell import Shell
from tests.net.scripted_peer import scripted_peer
from tests.net.test_send_interrupted import commitment_left_unanswered, store_left_unanswered
from tests.peers import LOOPBACK
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter
from tests.ui.sending import Sending, sending
from tests.ui.test_send_controller import drop

PROMPT = 1.0  # what stopping may take (thread scheduling on a loaded machine included)


def _drop_a_study_on(qtbot, shell: Shell, wired: Sending, node: Node, folder: Path) -> None:  # type: ignore[no-untyped-def]
    """Write a two-image study into ``folder``, add ``node``, open the folder in Sources and
    drop the study's patient on the node."""
    study = StudySpec("P1", "Send^Test", "20240101", "chest", (SeriesSpec("CT", "ax", 2, 16, 16),))
    write_files(folder, (study,))
    add_node(shell.services.home, node)
    wired.node_actions.refresh_nodes()
    media = wired.sources.media
    media.open_path(folder)
    qtbot.waitUntil(lambda: media.tree is not None, timeout=20000)
    drop(wired.nodes, media.model.mimeData([media.model.index(0, 0)]), node.name)


def test_quitting_ends_a_transfer_waiting_on_a_silent_peer(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    stored = threading.Event()
    wired = sending(qtbot, shell)
    with scripted_peer(store_left_unanswered(stored)) as peer:
        node = Node("Silent", "SCP", LOOPBACK, peer.port)
        _drop_a_study_on(qtbot, shell, wired, node, tmp_path / "media")
        qtbot.waitUntil(stored.is_set, timeout=20000)
        start = time.monotonic()
        wired.jobs.stop_all()
        qtbot.waitUntil(lambda: not wired.jobs.busy(), timeout=20000)
        elapsed = time.monotonic() - start
    assert elapsed < PROMPT, f"stopping took {elapsed:.1f} s"
    [job] = wired.transfers.rows
    assert wired.transfers.progress_of(job)[0] == 0  # nothing said sent


@pytest.mark.parametrize("by", ["cancel", "quit"])
def test_a_cancel_ends_a_commitment_request_the_peer_never_answers(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    tmp_path: Path,
    by: str,
) -> None:
    """Left over: the cancel woke a store, but a storage commitment request left unanswered
    held the worker (and a quit) for the node's 60 s network timeout."""
    asked = threading.Event()
    wired = sending(qtbot, shell)
    with scripted_peer(commitment_left_unanswered(asked), connections=2) as peer:
        node = Node("Silent", "SCP", LOOPBACK, peer.port, commit=True, network_timeout=60)
        _drop_a_study_on(qtbot, shell, wired, node, tmp_path / "media")
        qtbot.waitUntil(asked.is_set, timeout=20000)
        [job] = wired.transfers.rows
        start = time.monotonic()
        if by == "cancel":  # the Transfers panel's Cancel, the job's row selected
            wired.transfers.table.selectRow(wired.transfers.rows[job])
            click(qtbot, button(wired.transfers, "Cancel"))
        else:
            wired.jobs.stop_all()
        qtbot.waitUntil(lambda: not wired.jobs.busy(), timeout=20000)
        elapsed = time.monotonic() - start
    assert elapsed < PROMPT, f"stopping took {elapsed:.1f} s"
    assert wired.transfers.progress_of(job)[0] == 2  # both answered: sent
    state = wired.transfers.table.item(wired.transfers.rows[job], 3).text()
    assert state.startswith("commitment failed"), state  # not "waiting for commitment"
