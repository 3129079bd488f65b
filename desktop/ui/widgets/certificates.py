"""Certificates: trusted CAs and identities, with expiry colours, imports and exports."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import CourierError
from desktop.security.certificates import CertificateInfo
from desktop.security.keystore import Keystore

COLUMNS = ("Kind", "Name / ID", "Subject", "Issuer", "Valid until", "SHA-256")
EXPIRED, EXPIRING = QColor("#c0392b"), QColor("#d68910")


def expiry_colour(info: CertificateInfo, now: dt.datetime) -> QColor | None:
    if info.not_after <= now:
        return EXPIRED
    if info.not_after - now < dt.timedelta(days=30):
        return EXPIRING
    return None


class CertificatesPanel(QWidget):
    """Lists the keystore; imports ask for files and passwords with dialogs."""

    error = Signal(str, str)  # title, message
    changed = Signal()

    def __init__(self, keystore: Keystore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keystore = keystore
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, handler in (
            ("Import CA…", self.import_ca),
            ("Import identity…", self.import_identity),
            ("Export certificate…", self.export_certificate),
            ("Remove", self.remove),
        ):
            button = QPushButton(text)
            button.clicked.connect(handler)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.warnings)
        layout.addWidget(self.table)
        self.refresh()

    def refresh(self) -> None:
        now = dt.datetime.now(dt.UTC)
        rows = [
            ("Trusted CA", c.fingerprint.replace(":", "")[:16].lower(), c)
            for c in self.keystore.trusted()
        ]
        rows += [("Identity", i.name, i.certificate) for i in self.keystore.identities()]
        self.table.setRowCount(len(rows))
        for row, (kind, name, info) in enumerate(rows):
            cells = (
                kind,
                name,
                info.subject,
                info.issuer,
                f"{info.not_after:%Y-%m-%d}",
                info.fingerprint,
            )
            colour = expiry_colour(info, now)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if colour is not None and column == 4:
                    item.setForeground(colour)
                    item.setToolTip("expired" if colour == EXPIRED else "expires within 30 days")
                self.table.setItem(row, column, item)
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(1)

    def _selected_id(self) -> str | None:
        item = self.table.item(self.table.currentRow(), 1)
        return item.text() if item is not None else None

    def _attempt(self, title: str, action: Callable[[], object]) -> bool:
        try:
            result = action()
        except CourierError as error:
            self.error.emit(title, str(error))
            return False
        warnings = getattr(result, "warnings", [])
        self.warnings.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.refresh()
        self.changed.emit()
        return True

    def import_ca(self, path: Path | None = None) -> bool:
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self,
                "Import trusted CA",
                "",
                "Certificates (*.pem *.crt *.cer *.der *.p7b);;All files (*)",
            )
            if not name:
                return False
            path = Path(name)
        return self._attempt("Import CA", lambda: self.keystore.import_cas(path))

    def import_identity(
        self,
        path: Path | None = None,
        name: str | None = None,
        key: Path | None = None,
        file_password: str | None = None,
    ) -> bool:
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self,
                "Import identity",
                "",
                "Identities (*.p12 *.pfx *.pem *.crt *.der);;All files (*)",
            )
            if not chosen:
                return False
            path = Path(chosen)
            if path.suffix.lower() not in (".p12", ".pfx"):
                key_name, _ = QFileDialog.getOpenFileName(
                    self, "Its private key", "", "Keys (*.key *.pem *.der)"
                )
                key = Path(key_name) if key_name else None
            secret, ok = QInputDialog.getText(
                self,
                "File password",
                "Password of the file (empty if none):",
                QLineEdit.EchoMode.Password,
            )
            file_password = secret if ok and secret else None
            name, ok = QInputDialog.getText(
                self, "Identity name", "Name for this identity:", text=path.stem
            )
            if not ok or not name:
                return False
        assert name is not None
        return self._attempt(
            "Import identity",
            lambda: self.keystore.import_identity(
                name, path, key_path=key, file_password=file_password
            ),
        )

    def export_certificate(self) -> None:
        reference = self._selected_id()
        if reference is None:
            return
        target, _ = QFileDialog.getSaveFileName(
            self, "Export certificate", f"{reference}.pem", "PEM (*.pem);;DER (*.der *.cer)"
        )
        if target:
            self._attempt(
                "Export certificate",
                lambda: self.keystore.export_certificate(reference, Path(target)),
            )

    def remove(self) -> None:
        reference = self._selected_id()
        if reference is not None:
            self._attempt("Remove", lambda: self.keystore.remove(reference))
