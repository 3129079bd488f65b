"""Long texts shown whole and readable: the Transfers row wraps a long failure reason in a
row that grows to hold it (and again when the column narrows), not elided to its first words;
the send confirmation is wide enough that its sentence takes a few lines, not a narrow column."""

from PySide6.QtGui import QFontMetrics

from desktop.net.queue import JobSummary
from desktop.ui.widgets.send_confirmation import SendConfirmation
from desktop.ui.widgets.transfers import REASON, TransfersPanel

REASON_TEXT = (
    "Connection refused by 127.0.0.1:40113. Nothing listens on that port: check the port "
    "number, that the peer's DICOM service is running and that no firewall rejects us"
)


def lines_needed(panel: TransfersPanel) -> int:
    """How many lines the reason takes, wrapped at its column's width."""
    width = panel.table.columnWidth(REASON) - 8  # the cell's margins
    metrics = QFontMetrics(panel.table.font())
    return metrics.boundingRect(0, 0, width, 10_000, 0x1000, REASON_TEXT).height()  # WordWrap


def test_a_long_reason_wraps_in_a_row_tall_enough_for_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = TransfersPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 400)
    panel.show()
    qtbot.waitExposed(panel)
    job = JobSummary(1, "Night PACS", "Demo^Alice: MR Brain", 0, False, 24, 0, 24, 0, 9, 0)
    panel.show_job(job, reason="")
    one_line = panel.table.rowHeight(0)
    panel.show_job(job, reason=REASON_TEXT)
    assert panel.table.item(0, REASON).text() == REASON_TEXT  # type: ignore[union-attr]
    assert panel.table.rowHeight(0) >= lines_needed(panel) > one_line
    panel.resize(800, 400)  # the reason's column narrows: the row grows with it
    qtbot.waitUntil(lambda: panel.table.rowHeight(0) >= lines_needed(panel))
    assert panel.table.rowHeight(0) > one_line


def test_the_send_confirmation_wraps_its_sentence_in_a_few_lines(qtbot) -> None:  # type: ignore[no-untyped-def]
    text = (
        "Send Demo^Alice: MR Brain — 24 instance(s), 1.7 MB — to Night PACS "
        "(NIGHTPACS@127.0.0.1:40113) over PLAIN DICOM (no encryption), compressed losslessly "
        "where the peer accepts it?"
    )
    dialog = SendConfirmation(text, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    line = dialog.message.fontMetrics().lineSpacing()
    assert dialog.message.height() <= 3 * line + 4  # was seven lines in a 250-pixel dialog
    assert dialog.width() >= dialog.fontMetrics().averageCharWidth() * 80
