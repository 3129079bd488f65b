"""Small pieces the dialogs share."""

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

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


def refuse(problem: QLabel, field: QWidget | None, message: str) -> None:
    """Say ``message`` in the dialog's ``problem`` label and mark ``field`` (when one is at
    fault) as the refused one, with the focus."""
    problem.setText(message)
    problem.setVisible(True)
    if field is not None:
        field.setStyleSheet(INVALID)
        field.setFocus()


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
