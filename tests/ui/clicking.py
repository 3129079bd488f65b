"""Driving the window as a person does: find a control by its text, click it, trigger it."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPushButton, QToolButton, QWidget


def button(parent: QWidget, text: str) -> QPushButton:
    [found] = [b for b in parent.findChildren(QPushButton) if b.text() == text]
    return found


def tool_button(parent: QWidget, action: QAction) -> QToolButton:
    """The toolbar button that shows ``action`` (a person clicks that, not the action)."""
    [found] = [b for b in parent.findChildren(QToolButton) if b.defaultAction() is action]
    return found


def click(qtbot, widget: QWidget) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def trigger(window: QWidget, text: str) -> None:
    """Trigger the menu or toolbar action whose text (without its & marks) is ``text``."""
    found = [a for a in window.findChildren(QAction) if a.text().replace("&", "") == text]
    assert found, f"no action {text!r}"
    found[0].trigger()


def press_ok(qtbot, dialog: QDialog) -> None:  # type: ignore[no-untyped-def]
    [box] = dialog.findChildren(QDialogButtonBox, options=Qt.FindChildOption.FindDirectChildrenOnly)
    click(qtbot, box.button(QDialogButtonBox.StandardButton.Ok))
