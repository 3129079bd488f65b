"""The Audit panel: the local audit trail, filtered by event, node, outcome and time, security
alerts highlighted, each message's XML, and a check of the hash chain."""

import datetime as dt
import xml.dom.minidom
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.audit.events import APPLICATION_ACTIVITY, EVENTS
from desktop.core.audit.store import AuditLog, AuditLogError, Entry
from desktop.ui.models.audit_model import ENTRY_ROLE, OUTCOMES, AuditFilter, AuditModel
from desktop.ui.widgets.narrow import COMBO_MIN, FlowLayout, compact

ANY = "any"
ANY_BUT_STARTS = "any but application start/stop"  # every command starts and stops: noise
WINDOWS = {"any time": None, "last hour": 1, "last 24 hours": 24, "last 7 days": 24 * 7}
REFRESH_MS = 2000


class AuditPanel(QWidget):
    """Reads an audit log folder (written by every process of the user) and follows it."""

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log = AuditLog(folder)
        self.model = AuditModel()
        self.proxy = AuditFilter()
        self.proxy.setSourceModel(self.model)
        self.event_filter = _combo(
            [ANY, ANY_BUT_STARTS, *(f"{c} {e.meaning}" for c, e in EVENTS.items())], 30
        )
        self.node_filter = _combo([ANY])
        self.outcome_filter = _combo([ANY, *OUTCOMES.values()])
        self.time_filter = _combo(list(WINDOWS))
        for combo in (self.event_filter, self.node_filter, self.outcome_filter, self.time_filter):
            combo.currentTextChanged.connect(self._refilter)
        verify = QPushButton("Verify chain")
        verify.setToolTip("Check that no audit record was edited, inserted or deleted")
        verify.clicked.connect(self.verify)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setVisible(False)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)  # one line a record: the time too
        self.table.verticalHeader().hide()  # the # column numbers the records
        self.table.selectionModel().currentRowChanged.connect(self._show_details)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        filters = FlowLayout()  # wraps on a narrow window
        for label, combo in (
            ("Event", self.event_filter),
            ("Node", self.node_filter),
            ("Outcome", self.outcome_filter),
            ("Time", self.time_filter),
        ):
            filters.addWidget(_labelled(label, combo))
        filters.addWidget(verify)
        splitter = QSplitter(Qt.Orientation.Vertical)  # the records get the whole width
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.verdict)
        layout.addWidget(splitter)
        self._size = -1
        self._size_columns = True
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(REFRESH_MS)
        self.refresh()

    def refresh(self) -> None:
        """Reload when the log grew (another process or this one recorded an event)."""
        size = self.log.path.stat().st_size if self.log.path.exists() else 0
        if size == self._size:
            return
        self._size = size
        try:
            entries = list(self.log.entries())
        except AuditLogError as error:
            self._say(f"cannot read the audit log: {error}", ok=False)
            return
        self.model.set_entries(entries)
        if entries and self._size_columns:
            self._size_columns = False  # once: the widths of a day's records, then the user's
            for column in range(self.model.columnCount() - 1):
                self.table.resizeColumnToContents(column)
        for node in sorted({e.node for e in entries if e.node}):
            if self.node_filter.findText(node) < 0:
                self.node_filter.addItem(node)
        self.table.scrollToBottom()

    def verify(self) -> bool:
        """Check the trail's hash chain and say whether it is intact; True when it is."""
        verdict = self.log.verify()
        self._say(
            f"chain intact: {verdict.records} record(s)"
            if verdict.ok
            else f"BROKEN at record {verdict.broken}: {verdict.reason}",
            ok=verdict.ok,
        )
        return verdict.ok

    def _say(self, text: str, *, ok: bool) -> None:
        """The verdict line under the filters, in red when something is wrong."""
        self.verdict.setText(text)
        self.verdict.setStyleSheet("" if ok else "color: #c0392b; font-weight: bold")
        self.verdict.setVisible(True)

    def visible_entries(self) -> list[Entry]:
        return [
            self.proxy.data(self.proxy.index(row, 0), ENTRY_ROLE)
            for row in range(self.proxy.rowCount())
        ]

    def _refilter(self) -> None:
        event, node = self.event_filter.currentText(), self.node_filter.currentText()
        outcome = self.outcome_filter.currentText()
        hours = WINDOWS[self.time_filter.currentText()]
        self.proxy.set_filters(
            event=None if event in (ANY, ANY_BUT_STARTS) else event.split()[0],
            hide_event=APPLICATION_ACTIVITY.code if event == ANY_BUT_STARTS else None,
            node=None if node == ANY else node,
            outcome=None
            if outcome == ANY
            else next(k for k, v in OUTCOMES.items() if v == outcome),
            since=None if hours is None else dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours),
        )

    def _show_details(self, current: QModelIndex, _: QModelIndex) -> None:
        if not current.isValid():
            return
        entry: Entry = self.proxy.data(current, ENTRY_ROLE)
        pretty = xml.dom.minidom.parseString(entry.xml).toprettyxml(indent="  ")
        self.details.setPlainText(f"{entry.summary}\nSHA-256 {entry.hash}\n\n{pretty}")


def _combo(items: list[str], characters: int = COMBO_MIN) -> QComboBox:
    combo = compact(QComboBox(), characters)
    combo.addItems(items)
    return combo


def _labelled(label: str, combo: QComboBox) -> QWidget:
    """A filter's label and combo box, kept together when the row wraps."""
    pair = QWidget()
    layout = QHBoxLayout(pair)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(QLabel(label))
    layout.addWidget(combo)
    return pair
