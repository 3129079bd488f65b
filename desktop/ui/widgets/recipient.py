"""Choosing a recipient's certificate: one of the keystore's, or a certificate file (PEM or DER)
whose row appears only when that is chosen (De-identify's re-identifiable by, Seal's recipient)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QWidget

from desktop.security.keystore import Keystore

CERTIFICATE_FILE = "A certificate file…"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A keystore entry's certificate (``pem``) or a certificate file, by name."""

    name: str
    pem: str = ""
    file: Path | None = None

    def certificate(self) -> Path | bytes:
        return self.file if self.file is not None else self.pem.encode("ascii")


def keystore_certificates(keystore: Keystore, *, cas: bool = False) -> dict[str, str]:
    """The keystore's certificates by name (PEM): its identities, then (``cas``) its CAs."""
    found = {}
    for identity in keystore.identities():
        info = identity.certificate
        found[f"{identity.name} ({info.common_name or info.subject})"] = info.pem
    for ca in keystore.trusted() if cas else []:
        found[f"CA: {ca.common_name or ca.subject}"] = ca.pem
    return found


def with_button(field: QLineEdit, text: str, clicked: Callable[[], None]) -> QWidget:
    """``field`` with a button beside it (Choose…)."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    button = QPushButton(text)
    button.clicked.connect(clicked)
    layout.addWidget(field, 1)
    layout.addWidget(button)
    return row


class RecipientChooser:
    """Two rows of ``form``: the certificates by name (``none`` first when given: nobody)
    with "A certificate file…", and that file's row, shown only when it is chosen."""

    def __init__(
        self,
        form: QFormLayout,
        label: str,
        recipients: dict[str, str],
        choose_file: Callable[[str, str], Path | None],
        *,
        none: str = "",
    ) -> None:
        self.form, self.recipients, self.none = form, recipients, none
        self.choose_file = choose_file
        self.combo = QComboBox()
        self.combo.addItems([*([none] if none else []), *recipients, CERTIFICATE_FILE])
        self.file = QLineEdit()
        self.file.setPlaceholderText("certificate file (PEM or DER)")
        self.file_row = with_button(self.file, "Choose…", self._choose)
        form.addRow(label, self.combo)
        form.addRow("Certificate file", self.file_row)
        self.combo.currentTextChanged.connect(self._changed)
        self._changed(self.combo.currentText())

    def chosen(self) -> Recipient | None:
        """The recipient chosen; None for nobody."""
        name = self.combo.currentText()
        if name == self.none:
            return None
        if name == CERTIFICATE_FILE:
            path = Path(self.file.text().strip()).expanduser()
            return Recipient(path.name, file=path)
        return Recipient(name, pem=self.recipients[name])

    def refused(self) -> str:
        """What is missing or wrong, in words ("" when nothing is): a certificate that can
        never receive encrypted data (a CA's, or one whose key may not encipher keys) is
        refused here, as the command line refuses it, rather than once the dialog has closed;
        the list is marked red when the entry chosen there is refused."""
        from desktop.ui.widgets.dialogs import INVALID

        self.combo.setStyleSheet("")
        name = self.combo.currentText()
        if name == CERTIFICATE_FILE:
            path = self.file.text().strip()
            if not path:
                return "Choose the recipient's certificate file."
            if not Path(path).expanduser().is_file():
                return f"{path}: no such certificate file."
        chosen = self.chosen()
        problem = _unusable(chosen) if chosen is not None else ""
        if problem and name != CERTIFICATE_FILE:
            self.combo.setStyleSheet(INVALID)
        return problem

    def _changed(self, text: str) -> None:
        self.form.setRowVisible(self.file_row, text == CERTIFICATE_FILE)

    def _choose(self) -> None:
        name = self.choose_file(
            "The recipient's certificate", "Certificates (*.pem *.crt *.cer *.der);;All files (*)"
        )
        if name is not None:
            self.file.setText(str(name))


def _unusable(recipient: Recipient) -> str:
    """Why ``recipient``'s certificate may never receive encrypted data ("" when it may)."""
    from desktop.core.errors import CourierError
    from desktop.security.certificates import load_certificates
    from desktop.security.recipients import unusable

    try:
        data = recipient.file.read_bytes() if recipient.file else recipient.pem.encode("ascii")
        certificate = load_certificates(data, recipient.name)[0]
    except OSError as error:
        return f"cannot read {recipient.name}: {error.strerror or error}"
    except CourierError as error:
        return str(error)
    problem = unusable(certificate)
    return f"{recipient.name} cannot receive encrypted data: {problem}" if problem else ""
