"""The keystore password in the GUI: says what it unlocks, three tries, the OS keyring if any.

Order: the environment, a password remembered in the OS keyring (checked; a wrong one is
forgotten), then the dialog, which offers to remember only when a keyring backend exists.
"""

import os
from collections.abc import Callable

from PySide6.QtWidgets import QCheckBox, QDialog, QLabel, QLineEdit, QVBoxLayout, QWidget

from desktop.security.errors import PasswordError
from desktop.security.passwords import (
    MIN_LENGTH,
    PASSWORD_ENV,
    forget_password,
    keyring_available,
    remember_password,
    remembered_password,
)
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.dialogs import ok_cancel, problem_label, refuse
from desktop.ui.workers import wait_off_gui

TRIES = 3
PURPOSE = (
    "The keystore of {home} protects the private keys of your TLS identities (the "
    "certificates this computer presents to PACS), kept encrypted."
)


class PasswordDialog(QDialog):
    """Asks for the keystore password; a wrong one is said in place until the tries run out
    (then the dialog is rejected with ``tries_left`` at 0)."""

    def __init__(
        self,
        *,
        home: str,
        new: bool,
        check: Callable[[str], bool],
        offer_remember: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM Courier keystore")
        self.setMinimumWidth(420)  # its sentences on two or three lines, not seven
        self.new = new
        self.check = check
        self.tries_left = TRIES
        question = (
            f"Choose a keystore password ({MIN_LENGTH} characters or more):"
            if new
            else "Keystore password, to unlock an identity for a TLS connection:"
        )
        explanation = QLabel(f"{PURPOSE.format(home=home)}\n{question}")
        explanation.setWordWrap(True)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember = QCheckBox("Remember in the system keyring") if offer_remember else None
        self.problem = problem_label()
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addWidget(self.password)
        if self.remember is not None:
            layout.addWidget(self.remember)
        layout.addWidget(self.problem)
        layout.addWidget(ok_cancel(self))

    def accept(self) -> None:
        typed = self.password.text()
        if self.new and len(typed) < MIN_LENGTH:
            self._say(f"A keystore password needs at least {MIN_LENGTH} characters.")
            return
        if not self.new and not self._checked(typed):
            self.tries_left -= 1
            if self.tries_left == 0:
                self.reject()
                return
            self.password.clear()
            plural = "try" if self.tries_left == 1 else "tries"
            self._say(f"Wrong password, {self.tries_left} {plural} left.")
            return
        super().accept()

    def _checked(self, typed: str) -> bool:
        """The check (a key derivation) on a thread of its own; the dialog waits disabled."""
        self.setEnabled(False)
        try:
            return wait_off_gui(lambda: self.check(typed))
        finally:
            self.setEnabled(True)

    def _say(self, problem: str) -> None:
        refuse(self.problem, self.password, problem)
        self.resize(self.width(), max(self.height(), self.heightForWidth(self.width())))


class KeystorePassword:
    """The GUI's password source for the keystore of ``home`` (set ``check`` once the
    keystore exists: ``services.keystore.verifies``)."""

    def __init__(self, prompter: Prompter, *, home: str) -> None:
        self.prompter = prompter
        self.home = home  # also the keyring account, as for the CLI
        self.check: Callable[[str], bool] = lambda password: True

    def __call__(self, new: bool) -> str:
        if os.environ.get(PASSWORD_ENV):
            return os.environ[PASSWORD_ENV]
        if not new:
            remembered = remembered_password(self.home)
            if remembered and wait_off_gui(lambda: self.check(remembered)):
                return remembered
            if remembered:
                forget_password(self.home)
        dialog = PasswordDialog(
            home=self.home,
            new=new,
            check=self.check,
            offer_remember=keyring_available(),
            parent=self.prompter.parent,
        )
        if not self.prompter.run(dialog):
            if dialog.tries_left == 0:
                raise PasswordError(
                    f"the keystore password was wrong {TRIES} times: nothing was unlocked"
                )
            raise PasswordError("no keystore password given")
        if dialog.remember is not None and dialog.remember.isChecked():
            remember_password(self.home, dialog.password.text())
        return dialog.password.text()
