"""Qt offscreen for every UI test; a demo environment with its TLS PACS for the flow tests."""

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from desktop.app import InboxSettings, Services
from desktop.demo import DEMO_AE, Demo, prepare_demo
from desktop.ui.main_window import MainWindow
from tests.ui.scripted import ScriptedPrompter


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Demo:
    environment = prepare_demo(tmp_path / "demo")
    monkeypatch.setenv("DICOM_COURIER_HOME", str(environment.home))
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", environment.password)
    return environment


@pytest.fixture
def prompter() -> ScriptedPrompter:
    """Answers the window's questions; confirmations are "yes" unless a test queues "no"."""
    scripted = ScriptedPrompter()
    scripted.defaults["confirm"] = True
    return scripted


@pytest.fixture
def window(qtbot, demo: Demo, prompter: ScriptedPrompter) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    services = Services(demo.home, lambda new: demo.password)
    main = MainWindow(
        services, InboxSettings(DEMO_AE, demo.port, identity="demo-pacs"), prompter=prompter
    )
    main.show()  # not given to qtbot: this fixture closes it once transfers have stopped
    yield main
    main.controller.stop_all()
    qtbot.waitUntil(lambda: not main.controller.busy(), timeout=30000)
    main.close()
