"""The Seal dialog (``dicom-courier seal``'s choices): the recipient's certificate, who signs
inside the envelope, and the folder for the sealed files."""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.widgets.dialogs import ok_cancel, problem_label, refuse, with_button
from desktop.ui.widgets.identity_folder import refused_folder
from desktop.ui.widgets.recipient import Recipient, RecipientChooser

UNSIGNED = "Nobody (a SHA-256 digest inside)"


class SealDialog(QDialog):
    """Ask how to seal ``what`` (files under ``root``): ``recipients`` are the keystore's
    certificates by name (PEM), ``signers`` its identities."""

    def __init__(
        self,
        what: str,
        root: Path,
        recipients: dict[str, str],
        signers: list[str],
        choose_folder: Callable[[str], Path | None],
        choose_file: Callable[[str, str], Path | None],
        *,
        folder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Seal")
        self.root, self.choose_folder = root, choose_folder
        intro = QLabel(
            f"Seal {what} for one recipient (secure DICOM files): each is encrypted with "
            "AES-256 so that only the recipient's key opens it, around your signature or a "
            "digest. The selected files stay as they are."
        )
        intro.setWordWrap(True)
        self.out = QLineEdit(folder)
        self.out.setPlaceholderText("a folder for the sealed files")
        form = QFormLayout()
        form.addRow("Output folder", with_button(self.out, "Choose…", self._choose_out))
        self.chooser = RecipientChooser(form, "Recipient", recipients, choose_file)
        self.signer = QComboBox()
        self.signer.addItems([UNSIGNED, *signers])
        form.addRow("Signed by", self.signer)
        self.problem = problem_label()
        buttons = ok_cancel(self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Seal")
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    def folder(self) -> Path:
        return Path(self.out.text().strip()).expanduser()

    def recipient(self) -> Recipient:
        chosen = self.chooser.chosen()
        assert chosen is not None  # no "nobody" here
        return chosen

    def signed_by(self) -> str | None:
        name = self.signer.currentText()
        return None if name == UNSIGNED else name

    def accept(self) -> None:
        """Go on, or say what is missing beside its field and keep what was typed."""
        for field in (self.out, self.chooser.file):
            field.setStyleSheet("")
        for field, message in (
            (self.out, refused_folder(self.out.text(), self.root)),
            (self.chooser.file, self.chooser.refused()),
        ):
            if message:
                refuse(self.problem, field, message)
                return
        super().accept()

    def _choose_out(self) -> None:
        folder = self.choose_folder("Seal: the folder for the sealed files")
        if folder is not None:
            self.out.setText(str(folder))
