"""Small pieces the dialogs share."""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
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


def path_row(field: QLineEdit, choose: Callable[[], Path | None]) -> QWidget:
    """``field`` with a Choose… button that puts the path ``choose`` asks for in it (nothing
    changes when the person cancels)."""

    def chosen() -> None:
        path = choose()
        if path is not None:
            field.setText(str(path))

    return with_button(field, "Choose…", chosen)


def typed_path(field: QLineEdit) -> Path:
    """The path typed in ``field``, without surrounding spaces, ``~`` expanded."""
    return Path(field.text().strip()).expanduser()


def stack(dialog: QDialog, *parts: QWidget | QLayout, ok_text: str, min_width: int) -> QLabel:
    """Lay ``dialog`` out: ``parts`` one above the other, then its problem label and its OK
    (named ``ok_text``) and Cancel buttons; the problem label, for ``refuse``."""
    problem = problem_label()
    buttons = ok_cancel(dialog)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    layout = QVBoxLayout(dialog)
    for part in (*parts, problem, buttons):
        if isinstance(part, QLayout):
            layout.addLayout(part)
        else:
            layout.addWidget(part)
    dialog.setMinimumWidth(min_width)
    return problem
