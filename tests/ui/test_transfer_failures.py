"""Failures visible and actionable: a job to a dead node says it waits to retry, when, and why;
then failed; Retry re-queues it and it is sent; a job whose node is gone never stops the app."""

from pathlib import Path

import pytest

from desktop.core.config import Node, add_node
from desktop.demo import Demo
from desktop.net.queue import TransferQueue
from desktop.net.store import StoreItem
from desktop.ui.main_window import MainWindow
from tests.helpers import cli, require_tool
from tests.peers import LOOPBACK, free_port, running
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import drop_on_node, open_demo, study_index
from tests.ui.windows import click_on_job, demo_series, demo_study, stop_transfers, window_on

DEAD = "Night PACS"


def cell(window: MainWindow, job: int, column: int) -> str:
    item = window.transfers.table.item(window.transfers.rows[job], column)
    return item.text() if item is not None else ""


def add_dead_node(demo: Demo, port: int) -> None:
    """The node ``DEAD`` at ``port`` (nobody listens there yet), given up on after 2 s."""
    add_node(demo.home, Node(DEAD, "STORESCP", LOOPBACK, port, connect_timeout=2))


def drop_the_mr_study_on_a_dead_node(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    port: int,
) -> int:
    """MR T1 (12 images) dropped on a node nobody listens on at ``port``: its job, once it
    waits to retry."""
    add_dead_node(demo, port)
    window.node_actions.refresh_nodes()
    open_demo(qtbot, window, prompter, demo)
    study = window.browser.model.index(0, 0, study_index(window, 1))
    drop_on_node(window, window.browser.model.mimeData([study]), DEAD)
    qtbot.waitUntil(lambda: bool(window.transfers.rows), timeout=20000)
    [job] = window.transfers.rows
    qtbot.waitUntil(lambda: cell(window, job, 3).startswith("waiting to retry at"), timeout=20000)
    return job


def test_a_dead_node_waits_fails_with_a_reason_and_retry_sends(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there yet
    job = drop_the_mr_study_on_a_dead_node(qtbot, window, prompter, demo, port)
    assert "refused" in cell(window, job, 8)
    qtbot.waitUntil(lambda: cell(window, job, 3) == "failed", timeout=30000)  # 1 + 2 + 4 s
    assert "refused" in cell(window, job, 8) and cell(window, job, 7) == "12"
    assert window.transfers.progress_of(job) == (0, 12)  # failures are not shown as progress
    with running([require_tool("storescp"), "--ignore", port], port, tmp_path / "scp.log"):
        window.tabs.setCurrentWidget(window.transfers)
        window.transfers.table.selectRow(0)
        click(qtbot, button(window.transfers, "Retry failed"))
        assert cell(window, job, 3) in ("re-queued 12", "pending")
        qtbot.waitUntil(lambda: cell(window, job, 3) == "done", timeout=30000)
    assert window.transfers.progress_of(job) == (12, 12) and cell(window, job, 8) == ""


def test_a_pending_job_whose_node_is_gone_does_not_stop_the_start(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
) -> None:
    path = next(p for p in demo.media.rglob("*") if p.is_file() and p.name != "DICOMDIR")
    queue = TransferQueue(demo.home / "queue.sqlite")
    job = queue.enqueue(
        "Old PACS", [StoreItem(path, "1.2", "1.2.3", "1.2.840.10008.1.2.1", 1)], "left over"
    )
    queue.close()
    window = window_on(qtbot, demo, prompter)
    assert window.controller.resume_pending() == [job]
    assert cell(window, job, 3) == "node 'Old PACS' is gone"
    assert "no node named 'Old PACS'" in cell(window, job, 8)
    prompter.answer("confirm", False)
    assert window.close() and not prompter.questions  # it runs nowhere: Quit does not ask


def test_failed_and_done_jobs_of_the_command_line_are_listed_and_retried_by_clicking(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    demo: Demo,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    dead, live = free_port(), free_port()
    add_dead_node(demo, dead)
    add_node(demo.home, Node("Live", "STORESCP", LOOPBACK, live))
    study = demo_study(demo)
    failed, _, _ = cli(capsys, "send", DEAD, study, "--attempts", "1")
    assert failed != 0
    with running([require_tool("storescp"), "--ignore", live], live, tmp_path / "live.log"):
        assert cli(capsys, "send", "Live", study)[0] == 0
    window = window_on(qtbot, demo, prompter)
    assert sorted(window.transfers.rows) == [1, 2]  # an earlier session's jobs, not pending
    assert cell(window, 1, 3) == "failed" and "refused" in cell(window, 1, 8)
    assert cell(window, 2, 3) == "done" and cell(window, 2, 8) == ""
    with running([require_tool("storescp"), "--ignore", dead], dead, tmp_path / "scp.log"):
        click_on_job(qtbot, window, 1, "Retry failed")
        qtbot.waitUntil(lambda: cell(window, 1, 3) == "done", timeout=30000)
    stop_transfers(qtbot, window)


def test_cancelling_a_waiting_job_by_clicking_says_cancelled_not_failed(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    job = drop_the_mr_study_on_a_dead_node(qtbot, window, prompter, demo, free_port())
    window.tabs.setCurrentWidget(window.transfers)
    header = window.transfers.table.horizontalHeader()
    qtbot.waitUntil(lambda: header.sectionSize(8) >= 240)  # the reason is read, not elided
    assert header.sectionSize(8) > header.sectionSize(2)
    click_on_job(qtbot, window, job, "Cancel")
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=30000)
    assert cell(window, job, 3) == "cancelled" and cell(window, job, 7) == ""
    assert window.statusBar().currentMessage() == f"Job {job} to {DEAD}: cancelled, 0 of 12 sent"
    queue = TransferQueue(demo.home / "queue.sqlite")
    summary = queue.job(job)
    queue.close()
    assert (summary.failed, summary.pending, summary.state) == (0, 12, "cancelled")


def test_cancelling_a_failed_job_by_clicking_counts_its_instances_cancelled(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    demo: Demo,
    prompter: ScriptedPrompter,
) -> None:
    add_dead_node(demo, free_port())
    study = demo_study(demo)
    assert cli(capsys, "send", DEAD, study, "--attempts", "1")[0] != 0
    window = window_on(qtbot, demo, prompter)
    window.show()
    total = int(cell(window, 1, 7))
    click_on_job(qtbot, window, 1, "Cancel")
    assert cell(window, 1, 3) == "cancelled" and cell(window, 1, 7) == ""
    assert window.statusBar().currentMessage() == f"Job 1 to {DEAD}: cancelled, 0 of {total} sent"
    status, out, _ = cli(capsys, "queue")
    assert status == 0 and "cancelled" in out and "failed" not in out, out


def test_jobs_the_command_line_runs_while_the_window_is_open_are_followed(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    demo: Demo,
) -> None:
    """Tester's F7 (round 6): the Transfers tab was a snapshot of the queue at start: a job
    the command line queued (and failed) later never appeared, nor could be retried, and a
    node renamed by `node edit` kept its old name in the rows."""
    add_dead_node(demo, free_port())
    study = demo_study(demo)
    assert window.transfers.rows == {}
    assert cli(capsys, "send", DEAD, study, "--attempts", "1")[0] != 0
    qtbot.waitUntil(lambda: 1 in window.transfers.rows, timeout=10000)
    assert cell(window, 1, 1) == DEAD and cell(window, 1, 3) == "failed"
    assert "refused" in cell(window, 1, 8)
    assert any("job 1 (another program's): failed" in e.summary for e in window.log.entries)
    assert cli(capsys, "node", "edit", DEAD, "--rename", "Day PACS")[0] == 0
    qtbot.waitUntil(lambda: cell(window, 1, 1) == "Day PACS", timeout=10000)


def test_retry_failed_and_cancel_answer_without_a_selection_and_on_a_done_job(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    demo: Demo,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    """G16 of findings7: with no row selected, Retry failed retries every failed job (as
    `queue retry --failed`) and Cancel says to select one; a done job has nothing to retry."""
    live = free_port()
    add_dead_node(demo, free_port())
    add_node(demo.home, Node("Live", "STORESCP", LOOPBACK, live))
    series, count = demo_series(demo)
    assert cli(capsys, "send", DEAD, series, "--attempts", "1")[0] == 1
    with running([require_tool("storescp"), "--ignore", live], live, tmp_path / "live.log"):
        assert cli(capsys, "send", "Live", series)[0] == 0
    assert cli(capsys, "send", DEAD, series, "--attempts", "1")[0] == 1
    window = window_on(qtbot, demo, prompter)
    window.show()
    window.tabs.setCurrentWidget(window.transfers)
    assert [cell(window, job, 3) for job in (1, 2, 3)] == ["failed", "done", "failed"]
    status = window.statusBar().currentMessage

    click(qtbot, button(window.transfers, "Cancel"))
    assert status() == "Select the job to cancel in the Transfers list, then Cancel"
    click(qtbot, button(window.transfers, "Retry failed"))
    assert status() == f"Retrying 2 failed job(s) (1, 3): {2 * count} instance(s) re-queued"
    assert cell(window, 1, 3) != "failed" and cell(window, 3, 3) != "failed"
    stop_transfers(qtbot, window)

    click_on_job(qtbot, window, 2, "Retry failed")
    assert status() == "Job 2 is done: nothing to retry" and cell(window, 2, 3) == "done"
    queue = TransferQueue(demo.home / "queue.sqlite")
    assert queue.job(2).state == "done"
    queue.close()
