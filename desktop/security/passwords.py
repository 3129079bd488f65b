"""Where the keystore password comes from: a file, the environment, the OS keyring, a prompt.

Scripts use ``--password-file`` or ``DICOM_COURIER_KEYSTORE_PASSWORD``; people get the OS
keyring where one exists, else a prompt; nothing ever prompts without a terminal.
"""

import getpass
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from desktop.security.errors import PasswordError

LOG = logging.getLogger(__name__)
PASSWORD_ENV = "DICOM_COURIER_KEYSTORE_PASSWORD"
KEYRING_SERVICE = "dicom-courier"
MIN_LENGTH = 8

PasswordSource = Callable[[bool], str]  # called with True when a new password is being set


def read_password_file(path: Path) -> str:
    """The first line of a password file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise PasswordError(f"cannot read the password file {path}: {error.strerror}") from error
    if not lines or not lines[0]:
        raise PasswordError(f"the password file {path} is empty")
    return lines[0]


def password_source(password_file: Path | None, keyring_account: str) -> PasswordSource:
    """A source trying, in order: the file, the environment, the OS keyring, a terminal prompt."""

    def obtain(new: bool) -> str:
        if password_file is not None:
            return read_password_file(password_file)
        if os.environ.get(PASSWORD_ENV):
            return os.environ[PASSWORD_ENV]
        remembered = remembered_password(keyring_account)
        if remembered:
            return remembered
        typed = _prompt(new)
        remember_password(keyring_account, typed)
        return typed

    return obtain


def new_password(password_file: Path | None) -> str:
    """A new keystore password: from the file, else typed twice at the terminal."""
    if password_file is not None:
        return read_password_file(password_file)
    if not sys.stdin.isatty():
        raise PasswordError(
            "the new keystore password is needed and there is no terminal to ask on: use "
            "--new-password-file FILE"
        )
    return _prompt(True)


def _prompt(new: bool) -> str:
    if not sys.stdin.isatty():
        raise PasswordError(
            "the keystore password is needed and there is no terminal to ask on: use "
            f"--password-file FILE or set {PASSWORD_ENV}"
        )
    if not new:
        return getpass.getpass("Keystore password: ")
    first = getpass.getpass("New keystore password (8 characters or more): ")
    if len(first) < MIN_LENGTH:
        raise PasswordError(f"a keystore password needs at least {MIN_LENGTH} characters")
    if getpass.getpass("Repeat it: ") != first:
        raise PasswordError("the two passwords differ")
    return first


def keyring_available() -> bool:
    """True when an OS keyring backend is present (headless Linux has none)."""
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception as error:
        LOG.debug("no OS keyring: %s", error)
        return False
    if isinstance(backend, fail.Keyring):
        return False
    return not (isinstance(backend, chainer.ChainerBackend) and not backend.backends)


def remembered_password(account: str) -> str | None:
    """The password remembered in the OS keyring for ``account``, if any."""
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, account)
    except Exception as error:  # no keyring package or backend (headless Linux): not an error
        LOG.debug("no OS keyring: %s", error)
        return None


def remember_password(account: str, password: str) -> None:
    """Keep ``password`` in the OS keyring (best effort: else the user is asked next time)."""
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, account, password)
    except Exception as error:
        LOG.debug("the password was not remembered in an OS keyring: %s", error)


def forget_password(account: str) -> None:
    """Remove a remembered password (a wrong one) from the OS keyring."""
    try:
        import keyring

        keyring.delete_password(KEYRING_SERVICE, account)
    except Exception as error:
        LOG.debug("no password to forget in an OS keyring: %s", error)
