"""Certificates: trusted CAs, identities and revocation lists, with expiry colours, imports,
exports and removal."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import auditing
from desktop.core.errors import CourierError
from desktop.security.certificates import CertificateInfo
from desktop.security.keystore import ImportResult, Keystore
from desktop.security.passwords import MIN_LENGTH, remember_password, remembered_password
from desktop.security.revocation import (
    CrlInfo,
    held_crls,
    import_crl,
    remove_crl,
    revoked_entries,
)
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.narrow import FlowLayout
from desktop.ui.workers import wait_off_gui
from desktop.warm.control import PASSWORD_CHANGED, forget_secrets

COLUMNS = ("Kind", "Name / ID", "Subject", "Issuer", "Valid until", "SHA-256")
EXPIRED, EXPIRING = QColor("#c0392b"), QColor("#d68910")
KEY_FILES = "Keys (*.key *.pem *.der);;All files (*)"
CRL_FILES = "Revocation lists (*.crl *.pem *.der);;All files (*)"
CRL = "CRL"
FOLLOW_MS = 2000  # how often a shown table looks for changes made by other processes


def expiry_colour(info: CertificateInfo, now: dt.datetime) -> QColor | None:
    if info.not_after <= now:
        return EXPIRED
    if info.not_after - now < dt.timedelta(days=30):
        return EXPIRING
    return None


@dataclass(frozen=True, slots=True)
class _Row:
    """One line of the table: its cells, and the colour and tip of its validity (of the
    whole line when its certificate is revoked)."""

    cells: tuple[str, str, str, str, str, str]
    colour: QColor | None = None
    tip: str = ""
    revoked: bool = False


def _certificate_row(
    kind: str, name: str, info: CertificateInfo, now: dt.datetime, revoked: str = ""
) -> _Row:
    """A CA or an identity; ``revoked``: why a revocation list of the keystore revokes it."""
    until = f"{info.not_after:%Y-%m-%d}"
    if revoked:
        cells = (kind, name, info.subject, info.issuer, f"{until}, REVOKED", info.fingerprint)
        return _Row(cells, EXPIRED, f"{revoked}, by a revocation list of the keystore", True)
    colour = expiry_colour(info, now)
    cells = (kind, name, info.subject, info.issuer, until, info.fingerprint)
    return _Row(cells, colour, "expired" if colour == EXPIRED else "expires within 30 days")


def _crl_row(crl: CrlInfo, now: dt.datetime) -> _Row:
    """A revocation list: what it revokes and since when in the subject's column, its next
    update as its validity (coloured when it is warned of, as `keystore list` warns)."""
    warning = crl.expiry(now)
    expired = crl.next_update is not None and crl.next_update < now
    cells = (
        CRL,
        crl.id,
        f"revokes {crl.revoked} certificate(s); this update {crl.last_update:%Y-%m-%d}",
        crl.issuer,
        f"{crl.next_update:%Y-%m-%d}" if crl.next_update else "-",
        "",
    )
    return _Row(cells, (EXPIRED if expired else EXPIRING) if warning else None, warning)


class CertificatesPanel(QWidget):
    """Lists the keystore; imports ask for files and passwords through the prompter."""

    error = Signal(str, str)  # title, message
    changed = Signal()

    def __init__(
        self,
        keystore: Keystore,
        prompter: Prompter,
        parent: QWidget | None = None,
        *,
        users: Callable[[str], list[str]] = lambda _name: [],
    ) -> None:
        """``users``: what uses an identity, in words (named before it is removed)."""
        super().__init__(parent)
        self.keystore = keystore
        self.prompter = prompter
        self.users = users
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        buttons = FlowLayout()  # wraps on a narrow window
        for text, handler in (
            ("Import CA…", self.choose_ca),
            ("Import identity…", self.choose_identity),
            ("Import CRL…", self.choose_crl),
            ("Export certificate…", self.export_certificate),
            ("Remove", self.remove),
            ("Change password…", self.change_password),
        ):
            button = QPushButton(text)
            button.clicked.connect(handler)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.warnings)
        layout.addWidget(self.table)
        self.refresh()
        # another process (the command line) may import or remove CAs, identities and CRLs
        self._follow = QTimer(self)
        self._follow.timeout.connect(self._follow_keystore)
        self._follow.start(FOLLOW_MS)

    def showEvent(self, event: QShowEvent) -> None:
        """Listed again each time the tab is shown: the command line (or another window) may
        have imported or removed a certificate or a CRL meanwhile."""
        self.refresh()
        super().showEvent(event)

    def _follow_keystore(self) -> None:
        if self.isVisible() and self.keystore.trust_state() != self._listed:
            self.refresh()

    def refresh(self) -> None:
        """List the keystore's trusted CAs and identities again, with their validity."""
        self._listed = self.keystore.trust_state()
        now = dt.datetime.now(dt.UTC)
        revoked = revoked_entries(self.keystore)
        rows = [
            _certificate_row(
                "Trusted CA",
                c.fingerprint.replace(":", "")[:16].lower(),
                c,
                now,
                revoked.get(c.fingerprint, ""),
            )
            for c in self.keystore.trusted()
        ]
        rows += [
            _certificate_row(
                "Identity", i.name, i.certificate, now, revoked.get(i.certificate.fingerprint, "")
            )
            for i in self.keystore.identities()
        ]
        rows += [_crl_row(crl, now) for crl in held_crls(self.keystore)]
        self.table.setRowCount(len(rows))
        for row, line in enumerate(rows):
            for column, text in enumerate(line.cells):
                item = QTableWidgetItem(text)
                if line.colour is not None and (column == 4 or line.revoked):
                    item.setForeground(line.colour)
                    item.setToolTip(line.tip)
                self.table.setItem(row, column, item)
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(1)

    def _selected_id(self) -> str | None:
        item = self.table.item(self.table.currentRow(), 1)
        return item.text() if item is not None else None

    def _selected_kind(self) -> str:
        return self._selected_text(0)

    def _selected_text(self, column: int) -> str:
        item = self.table.item(self.table.currentRow(), column)
        return item.text() if item is not None else ""

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
        """Import it; a certificate the keystore's revocation lists revoke is imported with
        a warning, as `keystore import-identity` does (it may still open what was sealed
        for it), said in a warning box and beside the table."""
        revoked: list[str] = []

        def imported() -> ImportResult:
            from desktop.signing import revoked_identity_warning, untrusted_identity_warning

            result = self.keystore.import_identity(
                name, path, key_path=key, file_password=file_password
            )
            revoked.extend(filter(None, [revoked_identity_warning(self.keystore, name)]))
            untrusted = list(filter(None, [untrusted_identity_warning(self.keystore, name)]))
            return replace(result, warnings=[*result.warnings, *untrusted, *revoked])

        if not self._attempt("Import identity", imported):
            return False
        if revoked:
            self.prompter.inform(
                "Import identity",
                f"Identity {name} was imported, but {revoked[0]}. It can still open files "
                "sealed for it; remove it (select it, then Remove) if that is not needed.",
                warning=True,
            )
        return True

    def choose_crl(self) -> bool:
        """Import CRL…: ask for the file, then import it (as `keystore import-crl`)."""
        path = self.prompter.open_file("Import revocation list", CRL_FILES)
        return path is not None and self.import_crl(path)

    def import_crl(self, path: Path) -> bool:
        return self._attempt("Import CRL", lambda: import_crl(self.keystore, path))

    def export_certificate(self) -> None:
        """Write the selected entry's certificate (PEM, or DER for .der/.cer) where asked."""
        reference = self._selected_id()
        if reference is None:
            return
        if self._selected_kind() == CRL:
            self.error.emit(
                "Export certificate",
                "A revocation list is not a certificate: "
                "select a trusted CA or an identity to export.",
            )
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
        if reference is None:
            return
        if self._selected_kind() == CRL:
            issuer = self._selected_text(3)
            if self.prompter.confirm(
                "Remove",
                f"Remove the revocation list of {issuer}? While the keystore holds other "
                "lists, TLS peers whose CA has none are refused.",
            ):
                self._attempt("Remove", lambda: remove_crl(self.keystore, reference))
        elif self.prompter.confirm("Remove", self._removal_question(reference)):
            self._attempt("Remove", lambda: self.keystore.remove(reference))

    def change_password(self) -> bool:
        """Change password…: the current password and the new one twice, then every
        identity sealed again under it, off the GUI thread."""
        old = self.prompter.text(
            "Change keystore password", "Current keystore password:", secret=True
        )
        if old is None:
            return False
        new = self.prompter.text(
            "Change keystore password",
            f"New keystore password ({MIN_LENGTH} characters or more):",
            secret=True,
        )
        if new is None:
            return False
        again = self.prompter.text("Change keystore password", "Repeat the new one:", secret=True)
        if again is None:
            return False
        if again != new:
            self.error.emit("Change keystore password", "the two new passwords differ: unchanged")
            return False

        def change() -> int:
            with auditing.unlocking("the keystore, to change its password"):  # as the CLI's
                count = self.keystore.change_password(lambda: new, old=old)
            forget_secrets(self.keystore.folder.parent, PASSWORD_CHANGED)  # stale there now
            return count

        if not self._attempt("Change keystore password", lambda: wait_off_gui(change)):
            return False
        account = str(self.keystore.folder.parent.absolute())  # as the password prompt's
        if remembered_password(account) is not None:  # the OS keyring keeps the new one
            remember_password(account, new)
        self.prompter.inform(
            "Change keystore password",
            "The keystore password is changed: every identity is sealed under the new one. "
            "A running warm service has forgotten the old secrets ('service unlock' with the "
            "new one unlocks it again).",
        )
        return True

    def _removal_question(self, reference: str) -> str:
        if self._selected_kind() != "Identity":
            return f"Remove {reference} from the keystore? Peers it issued are no longer trusted."
        try:
            users = self.users(reference)
        except CourierError as error:  # a damaged configuration: who uses it is not known
            users = [f"perhaps nodes ({error})"]
        using = f" What uses it stops working: {', '.join(users)}." if users else ""
        return (
            f"Remove identity {reference} from the keystore? Its private key is deleted for "
            f"good (only its certificate can be exported).{using}"
        )
