"""Errors never vanish: every unexpected exception, in a slot or a worker, is logged with its
traceback (a rotating file under DICOM_COURIER_HOME/logs) and shown in a dialog whose details
can be copied; the application keeps running."""

import logging
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QMessageLogContext, QObject, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import CourierError

LOG = logging.getLogger("desktop.ui")
LOG_NAME = "dicom-courier.log"
QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def log_to_file(home: Path) -> Path:
    """Send the application's log records (``desktop.*``) to a rotating file; return its path."""
    folder = home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / LOG_NAME
    close_log_file()
    handler = RotatingFileHandler(path, maxBytes=2 * 2**20, backupCount=5, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    )
    logger = logging.getLogger("desktop")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    path.chmod(0o600)
    return path


def close_log_file() -> None:
    """Stop writing the log file ``log_to_file`` opened (its folder may go)."""
    logger = logging.getLogger("desktop")
    for handler in list(logger.handlers):
        if isinstance(handler, RotatingFileHandler):
            logger.removeHandler(handler)
            handler.close()


class ErrorDialog(QDialog):
    """What went wrong in a sentence, the details below, and a button to copy them."""

    def __init__(
        self, title: str, message: str, details: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(640, 360 if details else 140)
        self.message = QLabel(message)
        self.message.setWordWrap(True)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setVisible(bool(details))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy = buttons.addButton("Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def copy_details(self) -> None:
        text = f"{self.windowTitle()}\n{self.message.text()}\n\n{self.details.toPlainText()}"
        QApplication.clipboard().setText(text.strip())


# What the CLI tells its user to type, said as the GUI's user does it.
GUI_WORDS = (
    (": add --tls", ": tick Use TLS"),
    (": add --deid", ": tick De-identify before sending"),
    ("(keystore import-ca FILE)", "(Certificates ▸ Import CA…)"),
    ("with 'keystore import-ca'", "with Certificates ▸ Import CA…"),
    ("(or pass --identity NAME)", "(Edit… ▸ Identity)"),
)


def gui_words(text: str) -> str:
    """``text`` with the command-line advice it holds put in the GUI's terms."""
    for cli, gui in GUI_WORDS:
        text = text.replace(cli, gui)
    return text


def describe(error: BaseException) -> str:
    """A failure in a sentence: our own errors speak plainly, others say what they are."""
    if isinstance(error, CourierError):
        return gui_words(str(error))
    return f"{type(error).__name__}: {error}"


def traceback_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class ErrorReporter(QObject):
    """Where unexpected exceptions go. ``unexpected`` may be called on any thread: the dialog is
    shown on the GUI thread through the ``reported`` signal."""

    reported = Signal(str, str, str)  # title, message, details

    def __init__(self) -> None:
        super().__init__()
        self.log_path: Path | None = None  # where the details are kept, once logging is set

    def unexpected(self, error: BaseException, where: str = "") -> None:
        LOG.error("unexpected error%s", f" in {where}" if where else "", exc_info=_info(error))
        message = (
            f"{describe(error)}\n\nThis is a fault in DICOM Courier, not in what you did. The "
            "application goes on. The details below can be copied"
            + (f"; they are also in {self.log_path}." if self.log_path else ".")
        )
        self.reported.emit(
            f"Unexpected error{f': {where}' if where else ''}", message, traceback_text(error)
        )

    def install(self) -> None:
        """Catch what reaches the top of a slot (sys.excepthook), of a Python thread, and log
        Qt's own warnings."""
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        qInstallMessageHandler(_qt_message)

    def _excepthook(
        self, kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        if isinstance(error, KeyboardInterrupt):
            sys.__excepthook__(kind, error, trace)
            return
        self.unexpected(error.with_traceback(trace))

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.unexpected(args.exc_value, f"thread {args.thread.name if args.thread else ''}")


def _info(error: BaseException) -> tuple[type[BaseException], BaseException, TracebackType | None]:
    return type(error), error, error.__traceback__


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    logging.getLogger("desktop.ui.qt").log(QT_LEVELS.get(kind, logging.WARNING), "%s", message)
