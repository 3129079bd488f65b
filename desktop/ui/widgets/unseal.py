"""The Open sealed files dialog: which identity opens them, and the folder for what is inside."""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.widgets.dialogs import INVALID, ok_cancel, problem_label


class UnsealDialog(QDialog):
    """Ask for the recipient identity and the output folder of ``count`` sealed files found
    under ``root`` (the output must not be ``root`` itself: the sealed files stay)."""

    def __init__(
        self,
        count: int,
        root: Path,
        identities: list[str],
        choose_folder: Callable[[str], Path | None],
        *,
        folder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open sealed files")
        self.root, self.choose_folder = root, choose_folder
        intro = QLabel(
            f"{count} sealed file{'s' if count != 1 else ''} in {root}: each is encrypted for "
            "one recipient. They are decrypted with your identity, their signature or digest "
            "checked, and the DICOM files inside written to a folder, then shown."
        )
        intro.setWordWrap(True)
        self.identity = QComboBox()
        self.identity.addItems(identities)
        self.out = QLineEdit(folder)
        self.out.setPlaceholderText("a folder for the opened files")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(self.out, 1)
        row_layout.addWidget(choose)
        form = QFormLayout()
        form.addRow("Identity", self.identity)
        form.addRow("Output folder", row)
        self.problem = problem_label()
        buttons = ok_cancel(self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Open")
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    def folder(self) -> Path:
        return Path(self.out.text().strip()).expanduser()

    def accept(self) -> None:
        """Go on, or say what is wrong with the folder and keep what was typed."""
        message = self._refused()
        if not message:
            super().accept()
            return
        self.problem.setText(message)
        self.problem.setVisible(True)
        self.out.setStyleSheet(INVALID)
        self.out.setFocus()

    def _refused(self) -> str:
        if not self.out.text().strip():
            return "Choose the folder the opened files go to."
        folder = self.folder()
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file: the opened files need a folder."
        if folder.resolve() == self.root.resolve():
            return "Choose another folder than the media's: the sealed files stay as they are."
        return ""

    def _choose(self) -> None:
        folder = self.choose_folder("Open sealed files: the folder for the opened files")
        if folder is not None:
            self.out.setText(str(folder))
