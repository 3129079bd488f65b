"""Where DICOM Courier keeps its per-user state (config, keystore, queue, logs)."""

import os
from pathlib import Path

import platformdirs

HOME_ENV = "DICOM_COURIER_HOME"


def courier_home() -> Path:
    """The per-user directory: ``$DICOM_COURIER_HOME`` if set, else the platform's data dir."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("dicom-courier", appauthor=False))


def courier_cache() -> Path:
    """Where re-creatable data goes (the demo's sample media): the platform's cache dir."""
    return Path(platformdirs.user_cache_dir("dicom-courier", appauthor=False))
