"""Query/Retrieve: find studies on a node, retrieve the chosen ones into our Inbox."""

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.dates import format_date_time
from desktop.ui.widgets.narrow import compact

# The Media tree's headers and date format; the study's UID is kept in the first cell.
RESULT_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Name", lambda m: m.get("PatientName", "")),
    ("ID", lambda m: m.get("PatientID", "")),
    ("Date", lambda m: format_date_time(m.get("StudyDate", ""), m.get("StudyTime", ""))),
    ("Description", lambda m: m.get("StudyDescription", "")),
    ("Accession", lambda m: m.get("AccessionNumber", "")),
    ("Modality", lambda m: m.get("ModalitiesInStudy", "").replace("\\", ", ")),
    ("Images", lambda m: m.get("NumberOfStudyRelatedInstances", "")),
)
UID_ROLE = Qt.ItemDataRole.UserRole + 1


class QueryPanel(QWidget):
    find_requested = Signal(str, dict)  # node, keys
    retrieve_requested = Signal(str, list)  # node, study UIDs

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.node = compact(QComboBox())
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("DOE* (wildcards allowed)")
        self.patient_id = QLineEdit()
        self.accession = QLineEdit()
        self.modality = QLineEdit()
        self.use_dates = QCheckBox("Between")
        self.date_from, self.date_to = (
            QDateEdit(QDate.currentDate().addYears(-1)),
            QDateEdit(QDate.currentDate()),
        )
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        dates = QHBoxLayout()
        dates.addWidget(self.use_dates)
        dates.addWidget(self.date_from)
        dates.addWidget(self.date_to)
        form = QFormLayout()
        for label, widget in (
            ("Node", self.node),
            ("Patient name", self.patient_name),
            ("Patient ID", self.patient_id),
            ("Accession", self.accession),
            ("Modality", self.modality),
        ):
            form.addRow(label, widget)
        form.addRow("Study date", dates)
        find, retrieve = QPushButton("Find"), QPushButton("Retrieve selected to Inbox")
        find.clicked.connect(self._find)
        retrieve.clicked.connect(self._retrieve)
        self.results = QTableWidget(0, len(RESULT_COLUMNS))
        self.results.setHorizontalHeaderLabels([header for header, _ in RESULT_COLUMNS])
        self.results.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.warning = QLabel()  # what the peer said it did not support (0xFF01)
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #9a6700")
        self.warning.setVisible(False)
        buttons = QHBoxLayout()
        buttons.addWidget(find)
        buttons.addWidget(retrieve)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.warning)
        layout.addWidget(self.results)

    def set_nodes(self, names: list[str]) -> None:
        """Offer the nodes ``names``, keeping the one chosen when it is still there."""
        current = self.node.currentText()
        self.node.clear()
        self.node.addItems(names)
        if current in names:
            self.node.setCurrentText(current)

    def keys(self) -> dict[str, str]:
        keys = {
            k: v
            for k, v in (
                ("PatientName", self.patient_name.text()),
                ("PatientID", self.patient_id.text()),
                ("AccessionNumber", self.accession.text()),
                ("ModalitiesInStudy", self.modality.text()),
            )
            if v
        }
        if self.use_dates.isChecked():
            keys["StudyDate"] = (
                f"{self.date_from.date().toString('yyyyMMdd')}-"
                f"{self.date_to.date().toString('yyyyMMdd')}"
            )
        return keys

    def _find(self) -> None:
        if self.node.currentText():
            self.find_requested.emit(self.node.currentText(), self.keys())

    def show_results(self, matches: list[dict[str, Any]], *, warning: str = "") -> None:
        """The matches in the table; ``warning``, when the peer gave one, above them."""
        self.warning.setText(f"Warning: {warning}" if warning else "")
        self.warning.setVisible(bool(warning))
        self.results.setRowCount(len(matches))
        for row, match in enumerate(matches):
            texts = {k: str(v) for k, v in match.items()}
            for column, (_, text) in enumerate(RESULT_COLUMNS):
                self.results.setItem(row, column, QTableWidgetItem(text(texts)))
            first = self.results.item(row, 0)
            assert first is not None
            first.setData(UID_ROLE, texts.get("StudyInstanceUID", ""))
            first.setToolTip(f"Study Instance UID {texts.get('StudyInstanceUID', '')}")
        self.results.resizeColumnsToContents()

    def _retrieve(self) -> None:
        rows = sorted({index.row() for index in self.results.selectedIndexes()})
        uids = [
            str(item.data(UID_ROLE))
            for row in rows
            if (item := self.results.item(row, 0)) is not None and item.data(UID_ROLE)
        ]
        if uids and self.node.currentText():
            self.retrieve_requested.emit(self.node.currentText(), uids)

    def show_move(self, completed: int, failed: int, remaining: int) -> None:
        """Show a retrieve's progress from its sub-operation counts."""
        total = completed + failed + remaining
        self.progress.setVisible(remaining > 0)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(completed + failed)
