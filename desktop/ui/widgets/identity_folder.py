"""Which of the keystore's identities to use on files, and the folder for what it makes (Open
sealed files, Re-identify)."""

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


class IdentityFolderDialog(QDialog):
    """Ask for an identity and an output folder for files found under ``root`` (the output
    must not be ``root`` itself: the files there stay as they are)."""

    def __init__(
        self,
        title: str,
        intro: str,
        root: Path,
        identities: list[str],
        choose_folder: Callable[[str], Path | None],
        *,
        ok_text: str = "OK",
        folder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.root, self.choose_folder = root, choose_folder
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.identity = QComboBox()
        self.identity.addItems(identities)
        self.out = QLineEdit(folder)
        self.out.setPlaceholderText("a folder for the files made")
        row = with_button(self.out, "Choose…", self._choose)
        form = QFormLayout()
        form.addRow("Identity", self.identity)
        form.addRow("Output folder", row)
        self.problem = problem_label()
        buttons = ok_cancel(self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
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
        refuse(self.problem, self.out, message)

    def _refused(self) -> str:
        return refused_folder(self.out.text(), self.root)

    def _choose(self) -> None:
        folder = self.choose_folder(f"{self.windowTitle()}: the folder for the files made")
        if folder is not None:
            self.out.setText(str(folder))


def refused_folder(text: str, root: Path) -> str:
    """What is wrong with ``text`` as the folder for files made from files under ``root``
    ("" when nothing is)."""
    if not text.strip():
        return "Choose the folder the files made go to."
    folder = Path(text.strip()).expanduser()
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file: choose a folder."
    if folder.resolve() == root.resolve():
        return "Choose another folder than the media's: its files stay as they are."
    return ""
