"""Settings ▸ Listener access: which calling AE titles may store, query or retrieve at our
listener, each optionally bound to a client certificate (``desktop.core.access`` entries, the
configuration ``dicom-courier access`` writes)."""

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.access import ORDER, AccessError, Grant, grant, parse_grant
from desktop.core.errors import CourierError
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.dialogs import ok_cancel, problem_label, refuse

CERTIFICATE_FILES = "Certificates (*.pem *.crt *.cer *.der *.p7b);;All files (*)"
COLUMNS = ("Calling AE title", "Client certificate (SHA-256)", "Store", "Query", "Retrieve")
ANYONE = "No entries: any calling AE title may store, query and retrieve."
#: A certificate file → its SHA-256 fingerprint (``desktop.access_control``), or CourierError.
Fingerprinter = Callable[[Path], str]


def short(fingerprint: str) -> str:
    """A fingerprint as the table shows it (whole in the tooltip)."""
    if not fingerprint:
        return "any certificate (not bound)"
    return f"{fingerprint[:8]}…{fingerprint[-8:]}"


class GrantDialog(QDialog):
    """Add or edit one entry: the title, the certificate it is bound to, its services."""

    def __init__(
        self,
        prompter: Prompter,
        fingerprint_of: Fingerprinter,
        current: Grant | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Allowed caller")
        self.setMinimumWidth(560)
        self.prompter, self.fingerprint_of = prompter, fingerprint_of
        self.ae_title = QLineEdit(current.ae_title if current else "")
        self.ae_title.setPlaceholderText("the calling AE title, e.g. VIEWER")
        self.fingerprint = QLineEdit(current.fingerprint if current else "")
        self.fingerprint.setPlaceholderText("empty: any certificate; or paste its SHA-256")
        self.fingerprint.setToolTip(
            "The SHA-256 fingerprint of the client certificate this title must present over "
            "TLS (64 hex digits, colons allowed); empty: the title is not bound to one"
        )
        from_file = QPushButton("From certificate file…")
        from_file.clicked.connect(self._from_file)
        certificate = QHBoxLayout()
        certificate.addWidget(self.fingerprint, 1)
        certificate.addWidget(from_file)
        self.services = QWidget()
        boxes = QHBoxLayout(self.services)
        boxes.setContentsMargins(0, 0, 0, 0)
        self.boxes: dict[str, QCheckBox] = {}
        for service in ORDER:
            box = self.boxes[service] = QCheckBox(service.capitalize())
            box.setChecked(current is None or service in current.services)
            boxes.addWidget(box)
        boxes.addStretch(1)
        form = QFormLayout()
        form.addRow("Calling AE title", self.ae_title)
        form.addRow("Client certificate", certificate)
        form.addRow("May", self.services)
        self.problem = problem_label()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(ok_cancel(self))

    def grant(self) -> Grant:
        """The entry as typed; AccessError names the field at fault."""
        chosen = [s for s, box in self.boxes.items() if box.isChecked()]
        return grant(self.ae_title.text(), self.fingerprint.text(), chosen)

    def accept(self) -> None:
        """Keep the entry, or say what is wrong beside the field and keep what was typed."""
        try:
            self.grant()
        except AccessError as error:
            self._refuse(error)
            return
        super().accept()

    def _from_file(self) -> None:
        path = self.prompter.open_file("The client's certificate", CERTIFICATE_FILES)
        if path is None:
            return
        try:
            self.fingerprint.setText(self.fingerprint_of(path))
        except CourierError as error:
            self._refuse(error)
            return
        self.fingerprint.setStyleSheet("")
        self.problem.setVisible(False)

    def _refuse(self, error: CourierError) -> None:
        fields: dict[str, QWidget] = {
            "ae_title": self.ae_title,
            "fingerprint": self.fingerprint,
            "services": self.services,
        }
        for widget in fields.values():
            widget.setStyleSheet("")
        refuse(self.problem, fields.get(getattr(error, "field", "") or "fingerprint"), str(error))


class AccessDialog(QDialog):
    """The access list as a table: add, edit, remove; services ticked in place."""

    def __init__(
        self,
        entries: list[str],
        prompter: Prompter,
        fingerprint_of: Fingerprinter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Listener access")
        self.setMinimumSize(720, 360)
        self.prompter, self.fingerprint_of = prompter, fingerprint_of
        self.grants = [parse_grant(entry) for entry in entries]
        intro = QLabel(
            "Who may use our listener (the Inbox listener, and dicom-courier listen without "
            "--allow-ae). A title bound to a client certificate is accepted only over TLS "
            "with that certificate. Changes apply from the next association."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._ticked)
        self.table.cellDoubleClicked.connect(lambda row, _: self._edit(row))
        self.anyone = QLabel(ANYONE)
        self.anyone.setStyleSheet("color: #9a6700")
        buttons = QHBoxLayout()
        for text, slot in (
            ("Add…", self._add),
            ("Edit…", lambda: self._edit(self.table.currentRow())),
            ("Remove", self._remove),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.problem = problem_label()
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.anyone)
        layout.addLayout(buttons)
        layout.addWidget(self.problem)
        layout.addWidget(ok_cancel(self))
        self._show()

    def entries(self) -> list[str]:
        """The list as the configuration holds it."""
        return [g.entry for g in self.grants]

    def accept(self) -> None:
        """Keep the list, unless an entry was left with no service (said, and selected)."""
        for row, kept in enumerate(self.grants):
            try:
                grant(kept.ae_title, kept.fingerprint, kept.services)
            except AccessError as error:
                self.problem.setText(f"{kept.ae_title}: {error}")
                self.problem.setVisible(True)
                self.table.selectRow(row)
                return
        super().accept()

    def _show(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.grants))
        for row, shown in enumerate(self.grants):
            title = QTableWidgetItem(shown.ae_title)
            certificate = QTableWidgetItem(short(shown.fingerprint))
            certificate.setToolTip(shown.fingerprint or "not bound to a client certificate")
            self.table.setItem(row, 0, title)
            self.table.setItem(row, 1, certificate)
            for column, service in enumerate(ORDER, start=2):
                box = QTableWidgetItem()
                box.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                checked = service in shown.services
                box.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                self.table.setItem(row, column, box)
        self.table.resizeColumnToContents(0)
        self.table.blockSignals(False)
        self.anyone.setVisible(not self.grants)

    def _ticked(self, item: QTableWidgetItem) -> None:
        """A service box ticked in the table: that entry's services follow."""
        if item.column() < 2:
            return
        row = item.row()
        services = {
            service
            for column, service in enumerate(ORDER, start=2)
            if (box := self.table.item(row, column)) is not None
            and box.checkState() == Qt.CheckState.Checked
        }
        self.grants[row] = replace(self.grants[row], services=frozenset(services))
        self.problem.setVisible(False)

    def _add(self) -> None:
        dialog = GrantDialog(self.prompter, self.fingerprint_of, None, self)
        if self.prompter.run(dialog):
            self.grants.append(dialog.grant())
            self._show()
            self.table.selectRow(len(self.grants) - 1)
        dialog.deleteLater()

    def _edit(self, row: int) -> None:
        if not 0 <= row < len(self.grants):
            return
        dialog = GrantDialog(self.prompter, self.fingerprint_of, self.grants[row], self)
        if self.prompter.run(dialog):
            self.grants[row] = dialog.grant()
            self._show()
            self.table.selectRow(row)
        dialog.deleteLater()

    def _remove(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.grants):
            del self.grants[row]
            self._show()
