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
