"""Every question the GUI asks a person goes through one object, so a test answers it.

Panels and controllers never open a dialog themselves: they ask their ``Prompter``. The real
one shows Qt's dialogs; tests pass one that types into the real dialogs or answers by script.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from desktop.ui.errors import ErrorDialog

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from desktop.core.deid.boxes import Box


class Prompter:
    """Qt's modal dialogs, parented to ``parent`` (set once the main window exists)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent

    def open_file(self, title: str, filters: str) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.parent, title, "", filters)
        return Path(name) if name else None

    def open_folder(self, title: str) -> Path | None:
        name = QFileDialog.getExistingDirectory(self.parent, title)
        return Path(name) if name else None

    def save_file(self, title: str, suggested: str, filters: str) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.parent, title, suggested, filters)
        return Path(name) if name else None

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self.parent, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def text(
        self, title: str, label: str, default: str = "", *, secret: bool = False
    ) -> str | None:
        """A line of text; None when cancelled."""
        mode = QLineEdit.EchoMode.Password if secret else QLineEdit.EchoMode.Normal
        value, ok = QInputDialog.getText(self.parent, title, label, mode, default)
        return value if ok else None

    def error(self, title: str, message: str, details: str = "") -> None:
        """Say what went wrong (not modal: the application goes on)."""
        dialog = ErrorDialog(title, message, details, self.parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def inform(self, title: str, text: str, details: str = "", *, warning: bool = False) -> None:
        """Tell an outcome (not modal), with ``details`` behind "Show Details…"."""
        icon = QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information
        box = QMessageBox(icon, title, text, parent=self.parent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setDetailedText(details)
        box.open()

    def run(self, dialog: QDialog) -> bool:
        """Run a dialog of ours (node, Inbox, password ...); True when the user accepted it."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def review_boxes(
        self, title: str, frame: "NDArray[np.uint8]", boxes: "Sequence[Box]", explanation: str
    ) -> "list[Box] | None":
        """The boxes to mask over ``frame``, as the person left them; None when cancelled."""
        from desktop.ui.pixel_review import PixelReviewDialog

        dialog = PixelReviewDialog(title, frame, boxes, explanation, self.parent)
        return dialog.boxes() if self.run(dialog) else None
