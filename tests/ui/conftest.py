"""Qt offscreen for every UI test; a demo environment with its TLS PACS for the flow tests."""

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
from pathlib import Path

import pytest

from desktop import auditing
from desktop.app import InboxSettings, Services
from desktop.core.audit.store import AuditLog
from desktop.core.config import edit_node
from desktop.demo import DEMO_AE, DEMO_NODE, Demo, free_loopback_port, prepare_demo
from desktop.ui.errors import ErrorReporter
from desktop.ui.main_window import MainWindow
from desktop.ui.node_checks import NodeChecks
from desktop.ui.nodes_controller import NodesController
from desktop.ui.shell import Shell
from desktop.ui.widgets.log import LogPanel
from desktop.ui.widgets.nodes import NodesPanel
from tests.ui.scripted import ScriptedPrompter


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo made once per session (keys and media take seconds); tests get a copy."""
    return prepare_demo(tmp_path_factory.mktemp("demo-template"))


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_template: Demo) -> Demo:
    """A demo home of the test's own (the shared media are only read) on a free port."""
    home = tmp_path / "demo-home"
    shutil.copytree(demo_template.home, home)
    port = free_loopback_port()
    edit_node(home, DEMO_NODE, port=port)
    monkeypatch.setenv("DICOM_COURIER_HOME", str(home))
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", demo_template.password)
    return Demo(home, demo_template.media, demo_template.password, port)


@pytest.fixture
def trail(demo: Demo) -> Iterator[AuditLog]:
    """The demo home's audit trail, installed as the application's start installs it."""
    auditing.install(demo.home)
    yield AuditLog(demo.home / "audit")
    auditing.uninstall()


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


@pytest.fixture
def statuses() -> list[str]:
    """What the status line said, in order."""
    return []


@pytest.fixture
def shell(
    qtbot, tmp_path: Path, prompter: ScriptedPrompter, statuses: list[str]
) -> Iterator[Shell]:  # type: ignore[no-untyped-def]
    """What a controller gets from the window, without the window: a fresh home, a status
    line that records, the Log panel, the scripted prompter."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    home = tmp_path / "home"
    services = Services(home, lambda new: "a password")
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    reporter = ErrorReporter()
    made = Shell(host, services, settings, prompter, statuses.append, LogPanel(), reporter)
    reporter.reported.connect(made.show_error)
    yield made
    services.stop_inbox()


@pytest.fixture
def nodes_controller(qtbot, shell: Shell) -> NodesController:  # type: ignore[no-untyped-def]
    """The Nodes panel (``.nodes``) and its controller alone, on the ``shell``."""
    panel = NodesPanel()
    qtbot.addWidget(panel)
    return NodesController(shell, panel, NodeChecks(shell.settings))
