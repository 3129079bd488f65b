"""Small pieces the dialogs share."""

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel

INVALID = "border: 2px solid #c0392b"  # a field whose value was refused


def ok_cancel(dialog: QDialog) -> QDialogButtonBox:
    """OK and Cancel buttons wired to accept and reject ``dialog``."""
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def problem_label() -> QLabel:
    """Where a dialog says, in red, what is wrong with what was typed (hidden until then)."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet("color: #c0392b")
    label.setVisible(False)
    return label
