"""Sending and the Transfers panel with their controller alone, by clicks and drops: a study
dropped on a node goes to a real DCMTK storescp; a job to a dead node is cancelled by its
Cancel button; Quit asks while a job is queued."""

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDropEvent

from desktop.core.config import Node, add_node
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.ui.shell import Shell
from desktop.ui.widgets.nodes import NodesPanel
from tests.helpers import require_tool
from tests.peers import LOOPBACK, free_port, running
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter
from tests.ui.sending import sending


def drop(panel: NodesPanel, data: QMimeData, node: str) -> None:
    item = panel.item_for(node)
    assert item is not None
    panel.list.dropEvent(
        QDropEvent(
            panel.list.visualItemRect(item).center().toPointF(),
            Qt.DropAction.CopyAction,
            data,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    )


def test_a_dropped_study_is_confirmed_sent_and_a_dead_job_cancelled_by_clicking(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    statuses: list[str],
    tmp_path: Path,
) -> None:
    study = StudySpec("P1", "Send^Test", "20240101", "chest", (SeriesSpec("CT", "ax", 5, 16, 16),))
    write_files(tmp_path / "media", (study,))
    port, dead = free_port(), free_port()
    home = shell.services.home
    add_node(home, Node("Archive", "DCMTK", LOOPBACK, port))
    add_node(home, Node("Dead", "DEAD", LOOPBACK, dead, connect_timeout=2))
    shown: list[bool] = []
    wired = sending(qtbot, shell, show_panel=lambda: shown.append(True))
    sources, nodes, transfers, checks = wired.sources, wired.nodes, wired.transfers, wired.checks
    node_actions, jobs = wired.node_actions, wired.jobs
    node_actions.refresh_nodes()
    sources.media.open_path(tmp_path / "media")
    qtbot.waitUntil(lambda: sources.media.tree is not None, timeout=20000)
    model = sources.media.model
    patient = model.index(0, 0)

    received = tmp_path / "received"
    received.mkdir()
    command = [require_tool("storescp"), "-aet", "DCMTK", "-od", received, port]
    with running(command, port, tmp_path / "storescp.log"):
        drop(nodes, model.mimeData([patient]), "Archive")
        assert prompter.asked[-1] == ("confirm", "Send") and shown == [True]
        qtbot.waitUntil(lambda: bool(transfers.rows), timeout=20000)
        [job] = transfers.rows
        qtbot.waitUntil(lambda: transfers.progress_of(job) == (5, 5), timeout=30000)
        qtbot.waitUntil(lambda: not jobs.busy(), timeout=20000)
    assert len(list(received.iterdir())) == 5
    assert transfers.table.item(transfers.rows[job], 3).text() == "done"
    assert "association released (plain DICOM)" in [e.summary for e in shell.log.entries]
    assert checks.last(shell.services.node("Archive")).ok  # type: ignore[union-attr]

    drop(nodes, model.mimeData([patient]), "Dead")
    qtbot.waitUntil(lambda: len(transfers.rows) == 2, timeout=20000)
    [dead_job] = [j for j in transfers.rows if j != job]
    state = transfers.table.item(transfers.rows[dead_job], 3)
    qtbot.waitUntil(lambda: state.text().startswith("waiting to retry"), timeout=20000)
    prompter.answer("confirm", False)
    assert not wired.controller.may_quit()  # a job is queued: Quit asks, and "no" keeps it
    transfers.table.selectRow(transfers.rows[dead_job])
    click(qtbot, button(transfers, "Cancel"))
    jobs.stop_all()
    qtbot.waitUntil(lambda: not jobs.busy(), timeout=20000)
    assert transfers.table.item(transfers.rows[dead_job], 3).text() == "cancelled"
    assert wired.controller.may_quit()
