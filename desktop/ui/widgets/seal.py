"""The Seal dialog (``dicom-courier seal``'s choices): the recipient's certificate, who signs
inside the envelope, and the folder for the sealed files."""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from desktop.ui.widgets.dialogs import path_row, refuse, stack, typed_path
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
        self.root = root
        intro = QLabel(
            f"Seal {what} for one recipient (secure DICOM files): each is encrypted with "
            "AES-256 so that only the recipient's key opens it, around your signature or a "
            "digest. The selected files stay as they are."
        )
        intro.setWordWrap(True)
        self.out = QLineEdit(folder)
        self.out.setPlaceholderText("a folder for the sealed files")
        form = QFormLayout()
        ask = "Seal: the folder for the sealed files"
        form.addRow("Output folder", path_row(self.out, lambda: choose_folder(ask)))
        self.chooser = RecipientChooser(form, "Recipient", recipients, choose_file)
        self.signer = QComboBox()
        self.signer.addItems([UNSIGNED, *signers])
        form.addRow("Signed by", self.signer)
        self.problem = stack(self, intro, form, ok_text="Seal", min_width=560)

    def folder(self) -> Path:
        return typed_path(self.out)

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
