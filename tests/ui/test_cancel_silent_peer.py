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
from tests.net.scripted_peer import Conversation, scripted_peer
from tests.net.test_send_interrupted import commitment_left_unanswered
from tests.peers import LOOPBACK
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter
from tests.ui.sending import sending
from tests.ui.test_send_controller import drop

PROMPT = 1.0  # what stopping may take (thread scheduling on a loaded machine included)


def test_quitting_ends_a_transfer_waiting_on_a_silent_peer(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    study = StudySpec("P1", "Send^Test", "20240101", "chest", (SeriesSpec("CT", "ax", 2, 16, 16),))
    write_files(tmp_path / "media", (study,))
    stored = threading.Event()

    def silent(peer: Conversation) -> None:
        peer.accept()
        peer.read_message()  # our C-STORE-RQ, never answered
        stored.set()

    wired = sending(qtbot, shell)
    with scripted_peer(silent) as peer:
        add_node(shell.services.home, Node("Silent", "SCP", LOOPBACK, peer.port))
        wired.node_actions.refresh_nodes()
        sources = wired.sources
        sources.media.open_path(tmp_path / "media")
        qtbot.waitUntil(lambda: sources.media.tree is not None, timeout=20000)
        model = sources.media.model
        drop(wired.nodes, model.mimeData([model.index(0, 0)]), "Silent")
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
    study = StudySpec("P1", "Send^Test", "20240101", "chest", (SeriesSpec("CT", "ax", 2, 16, 16),))
    write_files(tmp_path / "media", (study,))
    asked = threading.Event()
    wired = sending(qtbot, shell)
    with scripted_peer(commitment_left_unanswered(asked), connections=2) as peer:
        node = Node("Silent", "SCP", LOOPBACK, peer.port, commit=True, network_timeout=60)
        add_node(shell.services.home, node)
        wired.node_actions.refresh_nodes()
        sources = wired.sources
        sources.media.open_path(tmp_path / "media")
        qtbot.waitUntil(lambda: sources.media.tree is not None, timeout=20000)
        model = sources.media.model
        drop(wired.nodes, model.mimeData([model.index(0, 0)]), "Silent")
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
