"""A peer that stores instances with a warning (0xB006 elements discarded, 0xB000 coercion):
the Transfers row and the Log say it, with the count and the warning, for a job this window
sends and for one the command line sends while the window follows the queue (tester's F6:
the row said "done" and nothing anywhere said the archive discarded data)."""

import pytest
from pydicom.dataset import Dataset

from desktop.core.config import Node, add_node
from desktop.core.media import open_media
from desktop.demo import Demo
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.log import LogEntry
from desktop.ui.widgets.transfers import REASON, STATE, WARNED_COLOUR
from tests.helpers import cli
from tests.peers import LOOPBACK, pynetdicom_scp
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import drop_on_node, open_demo, study_index
from tests.ui.test_transfer_failures import cell

ARCHIVE = "Archive"
WARNINGS = {1: 0xB006, 2: 0xB000, 3: 0xB000}  # by Instance Number; the others: success


def _answer(dataset: Dataset) -> int:
    return WARNINGS.get(int(dataset.InstanceNumber), 0)


def _job_line(window: MainWindow, job: int) -> LogEntry:
    [entry] = [e for e in window.log.entries if e.summary.startswith(f"job {job}")]
    return entry


def _assert_row_says_the_warnings(window: MainWindow, job: int) -> None:
    assert cell(window, job, STATE) == "done, 3 with a warning"
    reason = window.transfers.table.item(window.transfers.rows[job], REASON)
    assert reason.text() == (
        "the peer stored 3 of them with a warning: elements discarded (0xB006), "
        "coercion of data elements (0xB000) ×2"
    )
    assert reason.toolTip() == reason.text() and reason.foreground() == WARNED_COLOUR


def test_a_send_stored_with_warnings_says_so_in_its_row_and_log(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    with pynetdicom_scp(_answer) as (port, received):
        add_node(demo.home, Node(ARCHIVE, "PYNET_SCP", LOOPBACK, port))
        window.node_actions.refresh_nodes()
        open_demo(qtbot, window, prompter, demo)
        study = window.browser.model.index(0, 0, study_index(window, 1))  # MR T1: 12 images
        drop_on_node(window, window.browser.model.mimeData([study]), ARCHIVE)
        qtbot.waitUntil(lambda: bool(window.transfers.rows), timeout=20000)
        [job] = window.transfers.rows
        stopped = f"job {job}: "  # the Log's line of the job once it has stopped
        qtbot.waitUntil(
            lambda: any(e.summary.startswith(stopped) for e in window.log.entries), timeout=30000
        )
    assert len(received) == 12
    _assert_row_says_the_warnings(window, job)
    entry = _job_line(window, job)
    assert (entry.level, entry.node) == ("warning", ARCHIVE)
    assert entry.summary == (
        f"job {job}: done, sent 12 of 12; the peer stored 3 of them with a warning: "
        "elements discarded (0xB006), coercion of data elements (0xB000) ×2"
    )
    status = window.statusBar().currentMessage()
    assert (
        status
        == f"Job {job} to {ARCHIVE}: done, 12 of 12 sent, 3 stored with a warning (see the Log)"
    )
    lines = entry.details.splitlines()
    assert len(lines) == 3 and sum("answered warning: elements discarded" in x for x in lines) == 1


def test_a_command_line_send_stored_with_warnings_is_followed_with_them(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    demo: Demo,
) -> None:
    series = open_media(demo.media).patients[0].studies[1].series[0].series_instance_uid  # MR T1
    with pynetdicom_scp(_answer) as (port, received):
        add_node(demo.home, Node(ARCHIVE, "PYNET_SCP", LOOPBACK, port))
        status, out, _ = cli(capsys, "send", ARCHIVE, demo.media, "--series", series)
    assert len(received) == 12
    assert status == 0 and "sent 12 of 12; the peer stored 3 of them" in out, out
    qtbot.waitUntil(lambda: 1 in window.transfers.rows, timeout=10000)
    _assert_row_says_the_warnings(window, 1)
    entry = _job_line(window, 1)
    assert entry.level == "warning"
    assert entry.summary == (
        "job 1 (another program's): done, sent 12 of 12; the peer stored 3 of them with a "
        "warning: elements discarded (0xB006), coercion of data elements (0xB000) ×2"
    )
    assert len(entry.details.splitlines()) == 3
