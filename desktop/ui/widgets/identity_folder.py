"""Which of the keystore's identities to use on files, and the folder for what it makes (Open
sealed files, Re-identify)."""

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
        self.root = root
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.identity = QComboBox()
        self.identity.addItems(identities)
        self.out = QLineEdit(folder)
        self.out.setPlaceholderText("a folder for the files made")
        ask = f"{title}: the folder for the files made"
        form = QFormLayout()
        form.addRow("Identity", self.identity)
        form.addRow("Output folder", path_row(self.out, lambda: choose_folder(ask)))
        self.problem = stack(self, self.intro, form, ok_text=ok_text, min_width=520)

    def folder(self) -> Path:
        return typed_path(self.out)

    def accept(self) -> None:
        """Go on, or say what is wrong with the folder and keep what was typed."""
        message = self._refused()
        if not message:
            super().accept()
            return
        refuse(self.problem, self.out, message)

    def _refused(self) -> str:
        return refused_folder(self.out.text(), self.root)


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
