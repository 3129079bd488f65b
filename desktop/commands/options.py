"""What several command groups share: the keystore password option and opening the keystore.

Light to import: the keystore (and the cryptography it needs) loads only when a command
opens it.
"""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.paths import courier_home

if TYPE_CHECKING:
    from desktop.security.keystore import Keystore


def password_option() -> argparse.ArgumentParser:
    """A parent parser with --password-file, for every command that may unlock the keystore."""
    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="read the keystore password from FILE (or set DICOM_COURIER_KEYSTORE_PASSWORD)",
    )
    return secret


def open_keystore(args: argparse.Namespace) -> "Keystore":
    """The home's keystore, asking for its password (--password-file ...) only when needed."""
    from desktop.security.keystore import Keystore
    from desktop.security.passwords import password_source

    home = courier_home()
    return Keystore(home, password_source(args.password_file, str(home.absolute())))
