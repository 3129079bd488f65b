"""Where DICOM Courier keeps its per-user state (config, keystore, queue, logs)."""

import os
from pathlib import Path

HOME_ENV = "DICOM_COURIER_HOME"


def courier_home() -> Path:
    """The per-user directory: ``$DICOM_COURIER_HOME`` if set, else the platform's data dir."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs  # with tempfile and random: only where no home is set

    return Path(platformdirs.user_data_dir("dicom-courier", appauthor=False))


def courier_cache() -> Path:
    """Where re-creatable data goes (the demo's sample media): the platform's cache dir."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("dicom-courier", appauthor=False))


def unsafe_home(home: Path) -> str:
    """Why another user could read or change what ``home`` holds (it is theirs, or writable
    by group or others), in words; "" when it is safe or not made yet."""
    try:
        status = home.stat()
    except OSError:
        return ""
    if status.st_uid != os.geteuid():
        return (
            f"the Courier home {home} belongs to another user (uid {status.st_uid}): they can "
            "read and change its configuration, queue and keystore; use a home of your own "
            f"({HOME_ENV})"
        )
    if status.st_mode & 0o022:
        return (
            f"the Courier home {home} is writable by other users (mode {status.st_mode & 0o777:o}):"
            f" they can change its configuration and queue; make it private: chmod 700 {home}"
        )
    return ""
