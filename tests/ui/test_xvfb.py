"""A real window on a virtual X screen: a real drag from the tree to a node, and a screenshot."""

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from tests.helpers import require_tool

SCRIPT = Path(__file__).with_name("xvfb_drag.py")


def test_real_drag_under_xvfb(tmp_path: Path) -> None:
    xvfb_run = require_tool("xvfb-run")
    require_tool("xdotool")
    screenshot = tmp_path / "main-window.png"
    environment = {
        **os.environ,
        "QT_QPA_PLATFORM": "xcb",
        "DICOM_COURIER_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [
            xvfb_run,
            "-a",
            "-s",
            "-screen 0 1600x1000x24",
            sys.executable,
            str(SCRIPT),
            str(screenshot),
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "'dropped': True, 'done': True" in result.stdout
    image = QImage(str(screenshot))
    assert image.width() >= 1200 and image.height() >= 700
