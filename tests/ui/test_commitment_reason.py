"""A job whose commitment failed in an earlier session, or by the command line, says why in
its Transfers row, in the failure colour, from the queue's stored state (tester's F12: the
reason came only from this session's live updates)."""

from pathlib import Path

from desktop.demo import Demo
from desktop.net.queue import TransferQueue
from desktop.ui.widgets.transfers import FAILED_COLOUR, REASON
from tests.net.test_commitment import sent_job
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_transfer_failures import cell
from tests.ui.windows import window_on

REASON_TEXT = "not committed: no such object instance: the archive does not hold it (0x0112)"


def test_a_commitment_failed_earlier_shows_its_reason_in_the_row(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    job, items, transaction = sent_job(demo.home, tmp_path, count=2, asked="ARCHIVE")
    kept, lost = items
    queue = TransferQueue(demo.home / "queue.sqlite")
    queue.apply_report(
        transaction,
        "ARCHIVE",
        [(kept.sop_class_uid, kept.sop_instance_uid)],
        [(lost.sop_class_uid, lost.sop_instance_uid, REASON_TEXT)],
    )
    queue.close()
    window = window_on(qtbot, demo, prompter)
    assert cell(window, job, 3) == "commitment failed (1 committed, 1 not committed)"
    assert cell(window, job, REASON) == REASON_TEXT
    row = window.transfers.rows[job]
    assert window.transfers.table.item(row, REASON).foreground() == FAILED_COLOUR  # type: ignore[union-attr]
    assert window.transfers.failures[job] == [f"{lost.path}: {REASON_TEXT}"]
