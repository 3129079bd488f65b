"""The log: association and handshake transcripts as they happen, filterable and copyable."""

import time
from dataclasses import dataclass

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

LEVELS = ("info", "warning", "error")
COLOURS = {"info": None, "warning": QColor("#b8860b"), "error": QColor("#c0392b")}
MAX_ENTRIES = 5000


@dataclass(frozen=True, slots=True)
class LogEntry:
    level: str
    node: str
    summary: str
    details: str
    when: float


class LogPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[LogEntry] = []
        self.node_filter = QComboBox()
        self.node_filter.addItem("all nodes")
        self.level_filter = QComboBox()
        self.level_filter.addItems(["all levels", *LEVELS])
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the selected entry with its transcript")
        copy.clicked.connect(self.copy_selected)
        for combo in (self.node_filter, self.level_filter):
            combo.currentTextChanged.connect(self._refilter)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Time", "Level", "Node", "What"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.currentCellChanged.connect(self._show_details)
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

    def add(self, level: str, node: str, summary: str, details: str = "") -> None:
        entry = LogEntry(level, node, summary, details, time.time())
        self.entries.append(entry)
        del self.entries[:-MAX_ENTRIES]
        if node and self.node_filter.findText(node) < 0:
            self.node_filter.addItem(node)
        if self._visible(entry):
            self._append_row(entry)

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

    def _visible(self, entry: LogEntry) -> bool:
        node, level = self.node_filter.currentText(), self.level_filter.currentText()
        return (node == "all nodes" or entry.node == node) and (
            level == "all levels" or entry.level == level
        )

    def _append_row(self, entry: LogEntry) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, text in enumerate(
            (
                time.strftime("%H:%M:%S", time.localtime(entry.when)),
                entry.level,
                entry.node,
                entry.summary,
            )
        ):
            item = QTableWidgetItem(text)
            colour = COLOURS[entry.level]
            if colour is not None:
                item.setForeground(colour)
            self.table.setItem(row, column, item)
        self.table.scrollToBottom()

    def _refilter(self) -> None:
        self.table.setRowCount(0)
        for entry in self.entries:
            if self._visible(entry):
                self._append_row(entry)

    def visible_entries(self) -> list[LogEntry]:
        return [e for e in self.entries if self._visible(e)]

    def _show_details(self, row: int, *_: int) -> None:
        visible = self.visible_entries()
        if 0 <= row < len(visible):
            entry = visible[row]
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
