"""The Audit panel: filters by event, node, outcome and time; security alerts highlighted;
it follows the log as events are recorded and says when the chain is broken."""

from pathlib import Path

from PySide6.QtCore import Qt

from desktop.core.audit import events
from desktop.core.audit.store import AuditLog
from desktop.ui.models.audit_model import ALERT_BACKGROUND
from desktop.ui.widgets.audit import AuditPanel
from tests.audit.test_messages import LOCAL, all_messages


def test_filters_highlights_follows_and_verifies(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(tmp_path / "audit")
    messages = all_messages()
    for name, message in messages.items():
        log.append(message, node="pacs" if name in ("begin", "sent", "alert") else "")
    panel = AuditPanel(tmp_path / "audit")
    qtbot.addWidget(panel)
    assert len(panel.visible_entries()) == len(messages)

    panel.event_filter.setCurrentText("110113 Security Alert")
    [alert] = panel.visible_entries()
    assert alert.outcome == 8
    index = panel.proxy.index(0, 0)
    assert panel.proxy.data(index, Qt.ItemDataRole.BackgroundRole) == ALERT_BACKGROUND
    panel.event_filter.setCurrentText("any")

    panel.node_filter.setCurrentText("pacs")
    assert {e.event for e in panel.visible_entries()} == {"110102", "110104", "110113"}
    panel.node_filter.setCurrentText("any")
    panel.outcome_filter.setCurrentText("minor failure")
    assert {e.event for e in panel.visible_entries()} == {"110104", "110114"}
    panel.outcome_filter.setCurrentText("any")
    panel.time_filter.setCurrentText("last hour")
    assert len(panel.visible_entries()) == len(messages)
    panel.event_filter.setCurrentText("any but application start/stop")
    shown = {e.event for e in panel.visible_entries()}
    assert "110100" not in shown and {"110102", "110113"} <= shown
    panel.event_filter.setCurrentText("any")

    panel.table.selectRow(0)
    assert "<AuditMessage>" in panel.details.toPlainText()

    log.append(events.application_activity(LOCAL, started=False))
    qtbot.waitUntil(lambda: len(panel.visible_entries()) == len(messages) + 1, timeout=5000)

    assert panel.verify() and f"chain intact: {len(messages) + 1}" in panel.verdict.text()
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text("".join(lines[:4] + lines[5:]))
    assert not panel.verify()
    assert "BROKEN at record 5" in panel.verdict.text()


def test_records_take_one_line_each_and_the_whole_width(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(tmp_path / "audit")
    for message in all_messages().values():
        log.append(message, node="Hospital A PACS")
    panel = AuditPanel(tmp_path / "audit")
    qtbot.addWidget(panel)
    panel.resize(1400, 750)
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.table.width() > 1300  # the details below, not beside
    assert not panel.table.wordWrap()
    for column in (1, 2, 4):  # time, event, node: whole, on one line
        index = panel.proxy.index(0, column)
        text = panel.proxy.data(index, Qt.ItemDataRole.DisplayRole)
        needed = panel.table.fontMetrics().horizontalAdvance(text)
        assert panel.table.columnWidth(column) > needed, text
