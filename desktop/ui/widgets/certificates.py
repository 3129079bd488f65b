"""Certificates: trusted CAs and identities, with expiry colours, imports and exports."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import CourierError
from desktop.security.certificates import CertificateInfo
from desktop.security.keystore import Keystore
from desktop.ui.prompter import Prompter

COLUMNS = ("Kind", "Name / ID", "Subject", "Issuer", "Valid until", "SHA-256")
EXPIRED, EXPIRING = QColor("#c0392b"), QColor("#d68910")
KEY_FILES = "Keys (*.key *.pem *.der);;All files (*)"


def expiry_colour(info: CertificateInfo, now: dt.datetime) -> QColor | None:
    if info.not_after <= now:
        return EXPIRED
    if info.not_after - now < dt.timedelta(days=30):
        return EXPIRING
    return None


class CertificatesPanel(QWidget):
    """Lists the keystore; imports ask for files and passwords through the prompter."""

    error = Signal(str, str)  # title, message
    changed = Signal()

    def __init__(
        self, keystore: Keystore, prompter: Prompter, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.keystore = keystore
        self.prompter = prompter
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, handler in (
            ("Import CA…", self.choose_ca),
            ("Import identity…", self.choose_identity),
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
        """List the keystore's trusted CAs and identities again, with their validity."""
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

    def choose_ca(self) -> bool:
        """Import CA…: ask for the file, then import it."""
        path = self.prompter.open_file(
            "Import trusted CA", "Certificates (*.pem *.crt *.cer *.der *.p7b);;All files (*)"
        )
        return path is not None and self.import_ca(path)

    def import_ca(self, path: Path) -> bool:
        return self._attempt("Import CA", lambda: self.keystore.import_cas(path))

    def choose_identity(self) -> bool:
        """Import identity…: the file, its key unless PKCS#12, the file's password, a name."""
        path = self.prompter.open_file(
            "Import identity", "Identities (*.p12 *.pfx *.pem *.crt *.der);;All files (*)"
        )
        if path is None:
            return False
        key = None
        if path.suffix.lower() not in (".p12", ".pfx"):
            key = self.prompter.open_file(f"The private key of {path.name}", KEY_FILES)
            if key is None:
                return False
        secret = self.prompter.text(
            "File password",
            f"Password of {(key or path).name} (empty if it has none):",
            secret=True,
        )
        if secret is None:
            return False
        name = self.prompter.text("Identity name", "Name for this identity:", path.stem)
        if not name:
            return False
        return self.import_identity(path, name, key, secret or None)

    def import_identity(
        self, path: Path, name: str, key: Path | None = None, file_password: str | None = None
    ) -> bool:
        return self._attempt(
            "Import identity",
            lambda: self.keystore.import_identity(
                name, path, key_path=key, file_password=file_password
            ),
        )

    def export_certificate(self) -> None:
        """Write the selected entry's certificate (PEM, or DER for .der/.cer) where asked."""
        reference = self._selected_id()
        if reference is None:
            return
        target = self.prompter.save_file(
            "Export certificate", f"{reference}.pem", "PEM (*.pem);;DER (*.der *.cer)"
        )
        if target is not None:
            self._attempt(
                "Export certificate", lambda: self.keystore.export_certificate(reference, target)
            )

    def remove(self) -> None:
        reference = self._selected_id()
        if reference is not None and self.prompter.confirm(
            "Remove", f"Remove {reference} from the keystore? Nodes using it stop working."
        ):
            self._attempt("Remove", lambda: self.keystore.remove(reference))
