"""What the main window lends every panel controller: services, settings, the prompter, the
status line, the log and the error reporter. Controllers ask through it, never the window.

Each controller is a QObject parented to ``window``: it lives as long as the window (a Qt
connection to a bound method does not keep its object alive)."""

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget

from desktop.app import Services
from desktop.core.errors import CourierError
from desktop.ui.errors import ErrorReporter, gui_words
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.log import LogPanel


@dataclass(frozen=True)
class Shell:
    window: QWidget
    services: Services
    settings: QSettings
    prompter: Prompter
    status: Callable[[str], None]
    log: LogPanel
    reporter: ErrorReporter

    def show_error(self, title: str, message: str, details: str = "") -> None:
        self.prompter.error(title, gui_words(message), details)

    def report(self, title: str, error: Exception) -> None:
        """A worker's failure: ours in plain words; anything else logged with its traceback."""
        if isinstance(error, CourierError):
            self.show_error(title, str(error))
        else:
            self.reporter.unexpected(error, title)
