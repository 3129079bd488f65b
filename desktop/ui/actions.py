"""Menu and toolbar actions made one way: text, tip in the tooltip and the status bar, and the
shortcut said in the tooltip when there is one."""

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence


def tipped_action(
    parent: QObject, text: str, tip: str, handler: Callable[..., Any], *, shortcut: Any = None
) -> QAction:
    """An action that runs ``handler``, its ``tip`` (and ``shortcut``) in the tooltip and the
    status bar."""
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(shortcut)
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip} ({keys})" if keys else tip)
    action.setStatusTip(tip)
    action.triggered.connect(handler)
    return action


def menu_text(text: str) -> str:
    """``text`` (a node's name, a folder) as a menu item shows it: '&' kept, not taken as the
    mark of an Alt shortcut ("R&D PACS" was shown "RD PACS")."""
    return text.replace("&", "&&")
