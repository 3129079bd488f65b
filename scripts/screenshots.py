"""Regenerate the screenshots of the README and docs/ from the running application (demo).

QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [docs]
"""

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from desktop.app import InboxSettings, Services
from desktop.demo import DEMO_AE, prepare_demo
from desktop.ui.main_window import MainWindow, application


def pump(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    app, deadline = application(), time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def settle(seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    pump(lambda: time.monotonic() > end)


def main(folder: Path) -> None:
    application()
    demo = prepare_demo()
    os.environ["DICOM_COURIER_HOME"] = str(demo.home)
    os.environ["DICOM_COURIER_KEYSTORE_PASSWORD"] = demo.password
    window = MainWindow(
        Services(demo.home, lambda new: demo.password),
        InboxSettings(DEMO_AE, demo.port, identity="demo-pacs"),
    )
    window.resize(1440, 880)
    window.show()
    window.open_path(demo.media)
    pump(lambda: window.browser.tree is not None)
    browser, viewer = window.browser, window.viewer
    model = browser.model

    def show_study(patient: int, study: int) -> None:
        index = model.index(study, 0, model.index(patient, 0))
        browser.view.setCurrentIndex(index)
        pump(lambda: viewer.shown is not None and viewer.selection is not None)

    show_study(0, 1)  # MR Brain: two series in the strip
    pump(lambda: len(viewer.strip.images) >= 2)
    show_study(0, 0)  # CT Chest, its middle slice
    pump(lambda: len(viewer.strip.images) >= 3)
    settle()
    window.grab().save(str(folder / "main-window.png"))

    show_study(2, 0)  # the angiography cine, played a moment then paused
    viewer.play_action.trigger()
    pump(lambda: viewer.current >= 17)
    viewer.play_action.trigger()
    settle()
    window.grab().save(str(folder / "viewer-cine.png"))

    window.tabs.setCurrentWidget(window.certificates)
    settle()
    window.grab().save(str(folder / "certificates.png"))
    window.close()
    demo.remove()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
