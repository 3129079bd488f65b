"""The demo as `dicom-courier gui --demo` runs it: sample media reused from the cache on a
second start, and the demo's temporary folder gone once the window is closed."""

import gc
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop.core.config import load_config
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


def test_nothing_written_late_brings_the_demo_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the window still writes as it closes (the media's load ending just then adds to
    its recent list) is written before the folder goes, never after: an event loop that runs
    later (here the test's own) must not recreate the demo's home."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    (tmp_path / "tmp").mkdir()

    def close_late() -> None:
        for widget in QApplication.topLevelWidgets():
            if widget.windowTitle() == "DICOM Courier":
                widget.close()
                widget.settings.setValue("recent", [str(tmp_path / "late")])

    application()
    QTimer.singleShot(0, close_late)
    assert launch.run(demo=True) == 0
    QApplication.processEvents()  # what was left queued for the closed window
    gc.collect()
    assert not list((tmp_path / "tmp").glob("dicom-courier-demo-*"))


def test_the_demo_folder_goes_when_the_demo_is_stopped(tmp_path: Path) -> None:
    """`kill` (SIGTERM) or Ctrl+C ends the demo as closing its window does."""
    environment = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "TMPDIR": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "desktop.cli", "gui", "--demo"],
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not (configs := list(tmp_path.glob("dicom-courier-demo-*/home/config.json"))):
        assert demo.poll() is None and time.monotonic() < deadline, demo.stderr
        time.sleep(0.2)
    config = load_config(configs[0].parent)
    port = next(iter(config.nodes.values())).port
    while True:  # the demo PACS listens once the main window is built
        assert demo.poll() is None and time.monotonic() < deadline, demo.stderr
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    time.sleep(2)  # the window is shown and the handlers set right after
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=30) == 0
    assert not list(tmp_path.glob("dicom-courier-demo-*"))
