"""Starting the desktop application: normal, or on its embedded demo."""

import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from desktop import auditing
from desktop.app import InboxSettings, Services
from desktop.core.paths import courier_cache, courier_home
from desktop.security.passwords import PASSWORD_ENV
from desktop.ui.errors import close_log_file, log_to_file
from desktop.ui.main_window import MainWindow, application
from desktop.ui.password import KeystorePassword
from desktop.ui.prompter import Prompter
from desktop.ui.workers import cancel_running

if TYPE_CHECKING:
    from desktop.demo import Demo, DemoPacs

logger = logging.getLogger(__name__)


def main_window(
    home: Path, inbox: InboxSettings | None = None, *, prompter: Prompter | None = None
) -> MainWindow:
    """The main window on ``home``; the keystore password is asked through its prompter."""
    prompter = prompter or Prompter()
    password = KeystorePassword(prompter, home=str(home.absolute()))
    services = Services(home, password)
    password.check = auditing.audited_check(services.keystore.verifies)
    window = MainWindow(services, inbox, prompter=prompter)
    prompter.parent = prompter.parent or window
    return window


def build_window(
    path: Path | None = None,
    demo: bool = False,
    *,
    demo_media_cache: Path | None = None,
    prompter: Prompter | None = None,
) -> MainWindow:
    """The main window, on the demo's home or the user's; opens ``path`` or the demo media.
    The demo's temporary folder is removed when the application quits. ``prompter`` asks the
    user's questions (by default, in dialogs)."""
    app = application()
    inbox = None
    if demo:
        # deferred: numpy, pydicom, cryptography
        from desktop.demo import INBOX_AE, free_loopback_port, prepare_demo

        environment = prepare_demo(media_cache=demo_media_cache)
        os.environ["DICOM_COURIER_HOME"] = str(environment.home)
        os.environ[PASSWORD_ENV] = environment.password
        inbox = InboxSettings(INBOX_AE, free_loopback_port(), identity="demo-pacs")
        path = path or environment.media
    home = courier_home()
    log_path = log_to_file(home)
    window = main_window(home, inbox, prompter=prompter)
    app.aboutToQuit.connect(cancel_running)  # a scan cut off by the quit ends quietly
    window.reporter.log_path = log_path
    window.reporter.install()
    if demo:
        from desktop.demo import start_pacs

        assert inbox is not None
        pacs = start_pacs(environment, window.services.keystore, inbox.port)
        app.aboutToQuit.connect(
            lambda: _end_demo(window, pacs, environment), Qt.ConnectionType.SingleShotConnection
        )
    if path is not None:
        window.opening.open_path(path)
    window.controller.resume_pending()
    return window


def _end_demo(window: MainWindow, pacs: "DemoPacs", environment: "Demo") -> None:
    """Remove the demo's folder once nothing can write there any more: the demo PACS (its
    stocking thread joined), the window's sends, threads and listener, then the window
    itself (its settings written now; whatever was still queued for it is dropped with it,
    not run by a later event loop that would recreate the folder), and the log file."""
    import shiboken6

    pacs.stop()
    window.controller.stop_all()  # the sends (their queue is in the demo's home) end first
    window.controller.pool.waitForDone(10_000)
    window.stop_threads()
    shiboken6.delete(window)
    close_log_file()
    environment.remove()


def run(path: Path | None = None, demo: bool = False, screenshot: Path | None = None) -> int:
    """Show the main window until it is closed; with ``screenshot``, save it and quit."""
    app = application()
    window = build_window(path, demo, demo_media_cache=courier_cache())
    window.show()
    quit_on_signals(app, window)
    # the timer hands control to Python now and then, so the signal handlers get to run
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    if screenshot is not None:
        QTimer.singleShot(0, lambda: _save_and_quit(window, screenshot))
    return app.exec()


def quit_on_signals(app: QApplication, window: MainWindow) -> None:
    """Ctrl+C and SIGTERM (logout, shutdown, kill) close the window without asking: nobody
    may be there to answer, and the queue keeps what was not sent (the demo's folder goes).
    A question left open (the quit confirmation too) is closed unanswered first: the window
    cannot close while a modal dialog runs its own event loop inside one of its handlers."""

    def close(*_: object) -> None:
        window.ask_before_quit = False
        modal = app.activeModalWidget()
        if modal is not None:  # its caller goes on once this returns; then we come back
            if isinstance(modal, QDialog):
                modal.reject()
            modal.hide()  # even one that refuses to close: no longer modal, so no loop
            QTimer.singleShot(0, close)
            return
        app.closeAllWindows()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, close)


def _save_and_quit(window: MainWindow, screenshot: Path) -> None:
    if not window.grab().save(str(screenshot)):
        logger.error("could not write the screenshot %s", screenshot)
    window.ask_before_quit = False  # a screenshot run quits whatever the queue holds
    QApplication.quit()


if __name__ == "__main__":
    sys.exit(run())
