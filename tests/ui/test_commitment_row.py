"""The Transfers row says whether the archive committed to keep what was sent: a node with
storage commitment (set in the node dialog) to our own listener ends "committed"; a
commitment failure shows its reason."""

from pathlib import Path
from typing import Any

from desktop.commitments import listener_services
from desktop.connect import node_connector
from desktop.core.config import Node, add_node, find_node, load_config
from desktop.demo import DEMO_AE, DEMO_NODE, Demo
from desktop.inbox import indexing, open_store
from desktop.net.commitment import Reference, Report
from desktop.net.queue import JobSummary, TransferQueue
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.net.services.commitment import commitment_services, send_report
from desktop.security.keystore import Keystore
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.nodes import NodeDialog
from desktop.ui.widgets.transfers import TransfersPanel
from tests.net.test_commitment import sent_job
from tests.peers import LOOPBACK
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import drop_on_node, open_demo, study_index
from tests.ui.test_transfer_failures import cell

ARCHIVE = "Committing archive"


def test_the_node_dialog_sets_storage_commitment_and_keeps_what_it_does_not_show(
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    signing = Node("n", "AE", LOOPBACK, 104, sign_profile="base", sign_identity="me")
    dialog = NodeDialog([], signing)
    qtbot.addWidget(dialog)
    dialog.commit.setChecked(True)
    dialog.commit_wait.setValue(15)
    node = dialog.node()
    assert (node.commit, node.commit_wait) == (True, 15)
    assert (node.sign_profile, node.sign_identity) == ("base", "me")


def test_a_job_to_a_committing_node_ends_committed_in_its_row(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "archive"
    records: list[dict[str, Any]] = []
    settings = ListenerSettings("ARCHIVE", LOOPBACK, 0, inbox)
    keystore = Keystore(demo.home, lambda new: demo.password)
    store = open_store(inbox)
    services = commitment_services(
        listener_services(demo.home, "ARCHIVE", store, lambda node: node_connector(node, keystore))
    )
    listener = StorageListener(settings, indexing(records.append, lambda: store), services=services)
    listener.start()
    try:
        add_node(demo.home, Node(ARCHIVE, "ARCHIVE", LOOPBACK, listener.port, commit=True))
        assert find_node(load_config(demo.home), ARCHIVE).commit
        window.node_actions.refresh_nodes()
        seen: list[str] = []
        window.controller.job_updated.connect(lambda update: seen.append(update.progress.job.state))
        open_demo(qtbot, window, prompter, demo)
        study = window.browser.model.index(0, 0, study_index(window, 1))  # MR T1: 12 images
        drop_on_node(window, window.browser.model.mimeData([study]), ARCHIVE)
        qtbot.waitUntil(lambda: bool(window.transfers.rows), timeout=20000)
        [job] = window.transfers.rows
        qtbot.waitUntil(lambda: cell(window, job, 3) == "committed", timeout=30000)
        assert cell(window, job, 8) == ""
        assert "waiting for commitment" in seen  # said while the report was awaited
    finally:
        listener.stop()
        store.close()
    assert [r["committed"] for r in records if r["event"] == "commitment-requested"] == [12]


def test_a_commitment_failure_shows_in_the_row_with_its_reason(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = TransfersPanel()
    qtbot.addWidget(panel)
    job = JobSummary(7, "pacs", "study", 0, False, 3, 3, 0, 0, 30, 30, 2, 1, 0)
    reason = "not committed: no such object instance: the archive does not hold it (0x0112)"
    panel.show_job(job, [f"a.dcm: {reason}"], reason=reason)
    state = panel.table.item(0, 3)
    assert state is not None
    assert state.text() == "commitment failed (2 committed, 1 not committed)"
    assert panel.table.item(0, 8).text() == reason  # type: ignore[union-attr]


def test_a_report_that_reaches_the_inbox_later_turns_the_row_committed(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    demo: Demo,
    tmp_path: Path,
) -> None:
    job, items, transaction = sent_job(demo.home, tmp_path, count=2, asked="COURIER")
    queue = TransferQueue(demo.home / "queue.sqlite")
    window.transfers.show_job(queue.job(job))
    queue.close()
    assert cell(window, job, 3) == "waiting for commitment (0 committed, 2 waiting for commitment)"
    _, connector, peer = window.services.connection(DEMO_NODE)  # the Inbox is the demo PACS
    references = tuple(Reference(i.sop_class_uid, i.sop_instance_uid) for i in items)
    send_report(
        connector, called=DEMO_AE, calling=peer.calling_ae, report=Report(transaction, references)
    )
    qtbot.waitUntil(lambda: cell(window, job, 3) == "committed", timeout=10000)
