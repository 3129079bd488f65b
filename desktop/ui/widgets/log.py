"""The log: association and handshake transcripts as they happen, filterable and copyable.

A bounded model (the newest MAX_ENTRIES) behind a filter proxy, as Picard does: row N of the
view is always entry N of what passes the filters, however many entries came and went.
"""

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

LEVELS = ("info", "warning", "error")
COLOURS = {"info": None, "warning": QColor("#b8860b"), "error": QColor("#c0392b")}
MAX_ENTRIES = 10_000
HEADERS = ("Time", "Level", "Node", "What")
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class LogEntry:
    level: str
    node: str
    summary: str
    details: str
    when: float


class LogModel(QAbstractTableModel):
    """The newest ``limit`` entries; the oldest rows are removed as new ones come."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        super().__init__()
        self.entries: deque[LogEntry] = deque()
        self.limit = limit

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                time.strftime("%H:%M:%S", time.localtime(entry.when)),
                entry.level,
                entry.node,
                entry.summary,
            )[index.column()]
        if role == Qt.ItemDataRole.ForegroundRole:
            return COLOURS[entry.level]
        if role == ENTRY_ROLE:
            return entry
        return None

    def append(self, entry: LogEntry) -> None:
        """Add ``entry`` at the end, dropping the oldest once the model holds ``limit``."""
        if len(self.entries) >= self.limit:
            self.beginRemoveRows(QModelIndex(), 0, 0)
            self.entries.popleft()
            self.endRemoveRows()
        row = len(self.entries)
        self.beginInsertRows(QModelIndex(), row, row)
        self.entries.append(entry)
        self.endInsertRows()


class LogFilter(QSortFilterProxyModel):
    """Entries of one node and/or one level ('' for all)."""

    def __init__(self) -> None:
        super().__init__()
        self.node = ""
        self.level = ""

    def set(self, *, node: str, level: str) -> None:
        self.node, self.level = node, level
        self.invalidate()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, LogModel)
        entry = model.entries[row]
        return (not self.node or entry.node == self.node) and (
            not self.level or entry.level == self.level
        )


class LogPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LogModel()
        self.filter = LogFilter()
        self.filter.setSourceModel(self.model)
        self.node_filter = QComboBox()
        self.node_filter.addItem("all nodes")
        self.level_filter = QComboBox()
        self.level_filter.addItems(["all levels", *LEVELS])
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the selected entry with its transcript")
        copy.clicked.connect(self.copy_selected)
        for combo in (self.node_filter, self.level_filter):
            combo.currentTextChanged.connect(self._refilter)
        self.table = QTableView()
        self.table.setModel(self.filter)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.selectionModel().currentRowChanged.connect(self._show_details)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        filters = QHBoxLayout()
        filters.addWidget(self.node_filter)
        filters.addWidget(self.level_filter)
        filters.addStretch(1)
        filters.addWidget(copy)
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(splitter)

    @property
    def entries(self) -> deque[LogEntry]:
        return self.model.entries

    def add(self, level: str, node: str, summary: str, details: str = "") -> None:
        self.model.append(LogEntry(level, node, summary, details, time.time()))
        if node and self.node_filter.findText(node) < 0:
            self.node_filter.addItem(node)
        self.table.scrollToBottom()

    def add_transcript(self, node: str, transcript: dict[str, object], what: str) -> None:
        """An association or handshake record; a failure is shown with its diagnosis."""
        diagnosis = transcript.get("diagnosis")
        if isinstance(diagnosis, dict):
            summary = f"{what} failed: {diagnosis.get('summary')}. {diagnosis.get('advice')}"
            self.add("error", node, summary, _transcript_text(transcript))
        elif transcript.get("protocol"):
            self.add(
                "info",
                node,
                f"{what}: {transcript['protocol']} {transcript['cipher']}",
                _transcript_text(transcript),
            )
        else:
            self.add("info", node, f"{what} (plain DICOM)", _transcript_text(transcript))

    def _refilter(self) -> None:
        node, level = self.node_filter.currentText(), self.level_filter.currentText()
        self.filter.set(
            node="" if node == "all nodes" else node, level="" if level == "all levels" else level
        )

    def visible_entries(self) -> list[LogEntry]:
        return [self.entry_at(row) for row in range(self.filter.rowCount())]

    def entry_at(self, row: int) -> LogEntry:
        """The entry shown on row ``row`` of the view."""
        entry = self.filter.index(row, 0).data(ENTRY_ROLE)
        assert isinstance(entry, LogEntry)
        return entry

    def _show_details(self, current: QModelIndex, _: QModelIndex) -> None:
        if current.isValid():
            entry = self.entry_at(current.row())
            self.details.setPlainText(f"{entry.summary}\n\n{entry.details}".strip())

    def copy_selected(self) -> None:
        QApplication.clipboard().setText(self.details.toPlainText())


def _transcript_text(transcript: dict[str, object]) -> str:
    lines = [
        f"{key}: {value}"
        for key, value in transcript.items()
        if key not in ("peer_chain", "diagnosis") and value not in ("", None, [])
    ]
    chain: list[dict[str, object]] = transcript.get("peer_chain") or []  # type: ignore[assignment]
    for depth, certificate in enumerate(chain):
        lines.append(
            f"peer certificate {depth}: {certificate.get('subject')} (issuer "
            f"{certificate.get('issuer')}, until {certificate.get('not_after')}, "
            f"SHA-256 {certificate.get('fingerprint_sha256')})"
        )
    return "\n".join(lines)
