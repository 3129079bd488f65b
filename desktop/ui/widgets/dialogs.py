"""Small pieces the dialogs share."""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

INVALID = "border: 2px solid #c0392b"  # a field whose value was refused
FRAME = 40  # the height of a window's title bar and frame, about


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


class _FullScroll(QScrollArea):
    """A scroll area as wide as its content, that asks for its content's whole height (the
    window system bounds a window to the screen) and shrinks to a few lines when the screen
    is smaller."""

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.content = content
        self.setWidget(content)

    def _bar(self) -> int:
        return self.verticalScrollBar().sizeHint().width()

    def sizeHint(self) -> QSize:
        inner = self.content.sizeHint()
        return QSize(inner.width() + self._bar(), inner.height())

    def minimumSizeHint(self) -> QSize:
        inner = self.content.minimumSizeHint()
        return QSize(inner.width() + self._bar(), min(inner.height(), 4 * self._bar()))


def scrolling(content: QWidget) -> QScrollArea:
    """``content`` (a dialog's form) in a scroll area without a frame or a horizontal bar, so
    a dialog taller than the screen keeps its problem label and buttons, below it, in view."""
    area = _FullScroll(content)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def fit(window: QWidget, wanted: QSize | None = None) -> None:
    """Size ``window`` for ``wanted`` (by default its content) within the screen's free area,
    less the title bar (Qt's own adjustSize stops at two thirds of the screen)."""
    free = window.screen().availableGeometry()
    hint = wanted or window.sizeHint()
    window.resize(min(hint.width(), free.width()), min(hint.height(), free.height() - FRAME))
