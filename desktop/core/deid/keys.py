"""The project key of de-identification: 32 random bytes in a 0600 file.

Everyone de-identifying for one project shares the key, so the same study gets the same new
UIDs and date shift on any machine; without the key nobody can confirm a guessed original.
"""

import logging
import secrets
from pathlib import Path

from desktop.core.errors import CourierError
from desktop.core.files import private_folder, write_atomic
from desktop.core.paths import courier_home

KEY_BYTES = 32
MINIMUM_KEY_BYTES = 16
log = logging.getLogger(__name__)


class KeyFileError(CourierError):
    """The project key file cannot be read or made."""


def default_key_file() -> Path:
    """The per-home project key: ``$DICOM_COURIER_HOME/deid/project.key``."""
    return courier_home() / "deid" / "project.key"


def project_key(path: Path) -> bytes:
    """The key in ``path``; a new random one written there (0600) when the file is missing."""
    if not path.exists():
        private_folder(path.parent)
        key = secrets.token_bytes(KEY_BYTES)
        write_atomic(path, key)
        log.info("made a new de-identification project key in %s", path)
        return key
    try:
        key = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read the project key {path}: {error.strerror}") from None
    if len(key) < MINIMUM_KEY_BYTES:
        raise KeyFileError(
            f"the project key {path} holds {len(key)} bytes; a key needs at least "
            f"{MINIMUM_KEY_BYTES} (a new file gets {KEY_BYTES} random bytes)"
        )
    if path.stat().st_mode & 0o077:
        log.warning("the project key %s is readable by other users (chmod 600 it)", path)
    return key
