"""The main window shows before pydicom and numpy are imported (~0.7 s of CPU): they come
when media are first opened. Guards the start-up figure in bench/README.md."""

import os
import subprocess
import sys
from pathlib import Path

SHOW_WINDOW = (
    "import sys;"
    "from desktop.ui.launch import build_window; from desktop.ui.main_window import application;"
    "app = application(); window = build_window(); window.show(); app.processEvents();"
    "print(' '.join(m for m in ('pydicom', 'numpy') if m in sys.modules)); window.close()"
)


def test_the_window_shows_without_importing_pydicom_or_numpy(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DICOM_COURIER_HOME": str(tmp_path),
    }
    shown = subprocess.run(
        [sys.executable, "-c", SHOW_WINDOW],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        timeout=60,
    )
    assert shown.stdout.strip() == ""
