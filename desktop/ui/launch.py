"""Starting the desktop application: normal, or on its embedded demo."""

import os
import sys
from pathlib import Path

from PySide6.QtWidgets import QInputDialog, QLineEdit

from desktop.app import InboxSettings, Services
from desktop.core.paths import courier_home
from desktop.demo import DEMO_AE, prepare_demo
from desktop.security.errors import PasswordError
from desktop.security.passwords import PASSWORD_ENV
from desktop.ui.errors import log_to_file
from desktop.ui.main_window import MainWindow, application


def dialog_password(new: bool) -> str:
    """The keystore password from the environment, or asked for in a dialog (GUI thread)."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    what = (
        "It protects the private keys of your TLS identities (the certificates this computer "
        "presents to PACS), kept encrypted in the keystore."
    )
    prompt = (
        f"{what}\nChoose a keystore password (8 characters or more):"
        if new
        else f"{what}\nKeystore password, to unlock an identity for a TLS connection:"
    )
    text, ok = QInputDialog.getText(
        None, "DICOM Courier keystore", prompt, QLineEdit.EchoMode.Password
    )
    if not ok or not text:
        raise PasswordError("no keystore password given")
    return text


def build_window(path: Path | None = None, demo: bool = False) -> MainWindow:
    """The main window, on the demo's home or the user's; opens ``path`` or the demo media."""
    application()
    inbox = None
    if demo:
        environment = prepare_demo()
        os.environ["DICOM_COURIER_HOME"] = str(environment.home)
        os.environ[PASSWORD_ENV] = environment.password
        inbox = InboxSettings(DEMO_AE, environment.port, identity="demo-pacs")
        path = path or environment.media
    home = courier_home()
    log_path = log_to_file(home)
    window = MainWindow(Services(home, dialog_password), inbox)
    window.reporter.log_path = log_path
    window.reporter.install()
    if path is not None:
        window.open_path(path)
    window.controller.resume_pending()
    return window


def run(path: Path | None = None, demo: bool = False) -> int:
    app = application()
    window = build_window(path, demo)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run())
