"""The demo as `dicom-courier gui --demo` runs it: sample media reused from the cache on a
second start, and the demo's temporary folder gone once the window is closed."""

import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop.ui import launch
from desktop.ui.main_window import application


def test_the_demo_cleans_up_and_reuses_its_media(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    (tmp_path / "tmp").mkdir()
    opened: list[Path] = []

    def close_soon() -> None:
        for widget in QApplication.topLevelWidgets():
            if widget.windowTitle() == "DICOM Courier":
                opened.append(Path(widget.browser.tree.root) if widget.browser.tree else Path())
                widget.close()

    application()  # the timer needs the application that runs it
    for _ in range(2):
        QTimer.singleShot(1500, close_soon)
        assert launch.run(demo=True) == 0
        assert not list((tmp_path / "tmp").glob("dicom-courier-demo-*"))  # its home is gone
    media = list((tmp_path / "cache").rglob("DICOMDIR"))
    assert len(media) == 1  # written once, opened by both starts
