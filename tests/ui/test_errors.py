"""Errors never vanish: an unexpected exception in a slot or a worker is logged with its
traceback in DICOM_COURIER_HOME/logs, shown with details to copy, and the app goes on."""

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QPushButton

from desktop.app import InboxSettings, Services
from desktop.demo import DEMO_AE, DEMO_NODE, Demo
from desktop.ui.errors import ErrorDialog, ErrorReporter, log_to_file
from desktop.ui.main_window import MainWindow
from desktop.ui.workers import call, start
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter


@pytest.fixture
def installed(window: MainWindow, demo) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """The application's handlers, as ``launch`` installs them (restored afterwards)."""
    hooks = sys.excepthook
    path = log_to_file(demo.home)
    window.reporter.install()
    yield path
    sys.excepthook = hooks
    logger = logging.getLogger("desktop")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def test_an_exception_in_a_clicked_slot_is_logged_shown_and_survived(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    installed: Path,
) -> None:
    faulty = QPushButton("Faulty", window)

    def broken() -> None:
        raise ZeroDivisionError("a bug in a slot")

    faulty.clicked.connect(broken)
    click(qtbot, faulty)
    [(title, message, details)] = prompter.errors
    assert title == "Unexpected error" and "ZeroDivisionError: a bug in a slot" in message
    assert "Traceback" in details and "in broken" in details
    logged = installed.read_text()
    assert "ZeroDivisionError: a bug in a slot" in logged and "in broken" in logged
    assert oct(installed.stat().st_mode & 0o777) == "0o600"
    click(qtbot, button(window.nodes, "Echo"))  # the application goes on
    qtbot.waitUntil(
        lambda: window.checks.last(window.services.node(DEMO_NODE)) is not None,
        timeout=20000,
    )


def test_a_worker_reports_the_exception_itself(qtbot) -> None:  # type: ignore[no-untyped-def]
    def fails() -> None:
        raise KeyError("missing")

    worker = call(fails)
    with qtbot.waitSignal(worker.signals.errored, timeout=10000) as signal:
        start(worker)
    [error] = signal.args
    assert isinstance(error, KeyError) and error.__traceback__ is not None


def test_the_error_dialog_copies_its_details(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = ErrorDialog("Transfer to PACS", "It failed.", "Traceback: line 1")
    qtbot.addWidget(dialog)
    click(qtbot, dialog.copy)
    copied = QApplication.clipboard().text()
    assert "Transfer to PACS" in copied and "Traceback: line 1" in copied


def test_a_worker_failure_that_is_a_bug_reaches_the_dialog(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    installed: Path,
) -> None:
    window.shell.report("Export failed", ValueError("bad frame"))
    [(title, message, _)] = prompter.errors
    assert title == "Unexpected error: Export failed" and "ValueError: bad frame" in message
    assert "ValueError: bad frame" in installed.read_text()
    assert isinstance(window.reporter, ErrorReporter)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "is not a JSON object"),
        ('{"version": 1, "nodes": [{"name": "X", "ae_title": "A", "host": "h", "port": "p"}]}',
         "node 'X': port must be a whole number"),
    ],
)  # fmt: skip
def test_the_window_starts_on_a_damaged_configuration_and_says_why(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
    content: str,
    message: str,
) -> None:
    (demo.home / "config.json").write_text(content)
    window = MainWindow(
        Services(demo.home, lambda new: demo.password),
        InboxSettings(DEMO_AE, demo.port, identity="demo-pacs"),
        prompter=prompter,
    )
    qtbot.addWidget(window)
    window.show()
    assert window.nodes.list.count() == 0
    assert any(title == "Configuration" and message in text for title, text, _ in prompter.errors)


def test_a_folder_that_cannot_be_opened_leaves_the_outcome_in_the_status_bar(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    from tests.ui.clicking import trigger

    (tmp_path / "empty").mkdir()
    prompter.answer("open_folder", tmp_path / "empty")
    trigger(window, "Open folder or CD…")
    qtbot.waitUntil(lambda: bool(prompter.errors), timeout=10000)
    said = window.statusBar().currentMessage()
    assert said.startswith("Nothing opened: ") and str(tmp_path / "empty") in said, said


def test_quitting_while_a_folder_is_scanned_says_nothing_unexpected(tmp_path: Path) -> None:
    """`gui FOLDER --screenshot` quits while the scan runs: it is cancelled quietly."""
    import os
    import subprocess

    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(3000):
        (folder / f"{n:05}.txt").write_bytes(b"not DICOM " * 20)
    environment = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DICOM_COURIER_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop.cli",
            "gui",
            str(folder),
            "--screenshot",
            str(tmp_path / "x.png"),
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "worker failed" not in done.stderr and "unexpected" not in done.stderr, done.stderr
