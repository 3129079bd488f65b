"""Quitting: asked only when a transfer would stop (a job whose node was renamed or removed
runs nowhere), never asked by ``gui --screenshot``, and a signal (logout, shutdown, kill) ends
the application even while the quit question is open."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.core.config import Node, add_node
from desktop.demo import DEMO_NODE, Demo
from desktop.net.queue import TransferQueue
from desktop.net.store import StoreItem
from desktop.ui.launch import main_window, quit_on_signals
from desktop.ui.main_window import MainWindow
from tests.peers import LOOPBACK, free_port
from tests.ui.scripted import ScriptedPrompter
from tests.ui.windows import window_on

QUESTION = "Stop the transfers and quit?"


def queued(home: Path, media: Path, node: str) -> int:
    """A job left pending for ``node`` by an earlier session."""
    path = next(p for p in media.rglob("*") if p.is_file() and p.name != "DICOMDIR")
    queue = TransferQueue(home / "queue.sqlite")
    try:
        item = StoreItem(path, "1.2", "1.2.3", "1.2.840.10008.1.2.1", 1)
        return queue.enqueue(node, [item], "left over")
    finally:
        queue.close()


@contextmanager
def quitting_on_signals(window: MainWindow) -> Iterator[None]:
    """The application's SIGINT and SIGTERM handlers, for the test's duration."""
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        quit_on_signals(QApplication.instance(), window)  # type: ignore[arg-type]
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def test_a_job_whose_node_is_gone_does_not_make_quit_ask(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
) -> None:
    queued(demo.home, demo.media, "Old PACS")  # renamed or removed since
    window = window_on(qtbot, demo, prompter)
    window.show()
    prompter.answer("confirm", False)
    assert window.close() and not window.isVisible()
    assert not prompter.questions  # nothing runs, nothing to stop: nothing asked


def test_a_job_that_would_resume_makes_quit_ask_and_a_signal_still_quits(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
) -> None:
    queued(demo.home, demo.media, DEMO_NODE)
    window = window_on(qtbot, demo, prompter)
    window.show()
    prompter.answer("confirm", False)
    assert not window.close() and window.isVisible()
    assert len(prompter.questions) == 1 and QUESTION in prompter.questions[0]
    with quitting_on_signals(window):
        signal.raise_signal(signal.SIGTERM)  # logout, shutdown: nobody there to answer
    assert not window.isVisible() and len(prompter.questions) == 1  # closed, nothing asked


def test_a_signal_while_the_quit_question_is_open_closes_it_and_quits(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
) -> None:
    """Qt's own question box, as a person sees it: it runs its own event loop inside the
    window's close handler, where the signal arrives."""
    queued(demo.home, demo.media, DEMO_NODE)
    window = main_window(demo.home)
    qtbot.addWidget(window)
    window.show()
    seen: list[str] = []

    def terminate() -> None:
        question = QApplication.activeModalWidget()
        seen.append(question.text() if isinstance(question, QMessageBox) else str(question))
        signal.raise_signal(signal.SIGTERM)

    def rescue() -> None:  # the signal did not end the question: answer it so the test ends
        left = QApplication.activeModalWidget()
        if isinstance(left, QMessageBox):
            seen.append("still open")
            left.reject()

    QTimer.singleShot(300, terminate)
    QTimer.singleShot(10000, rescue)
    with quitting_on_signals(window):
        window.close()  # asks, and waits in the question's own loop
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=15000)
    assert QUESTION in seen[0], seen  # the question was open when the signal came
    assert "still open" not in seen and QApplication.activeModalWidget() is None


def test_a_screenshot_run_quits_though_a_job_waits_to_retry(demo: Demo, tmp_path: Path) -> None:
    """``gui --screenshot`` quits once the picture is saved: a job backing off from a dead
    node (it would make a person's quit ask) does not keep it running."""
    add_node(demo.home, Node("Night PACS", "STORESCP", LOOPBACK, free_port(), connect_timeout=2))
    queued(demo.home, demo.media, "Night PACS")
    picture = tmp_path / "window.png"
    environment = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DICOM_COURIER_HOME": str(demo.home),
    }
    done = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "gui", "--screenshot", str(picture)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert picture.stat().st_size > 0


def test_the_settings_file_is_readable_by_its_owner_only(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
) -> None:
    """Tester's F12 (round 6): gui.ini, which names the recent media's folders (often the
    patient's), was written 0644 in the home where every other file is 0600."""
    ini = demo.home / "gui.ini"
    ini.write_text("")
    ini.chmod(0o644)  # as an earlier version left it
    window = window_on(qtbot, demo, prompter)
    window.opening.open_path(demo.media)
    qtbot.waitUntil(lambda: window.browser.tree is not None, timeout=30000)
    window.close()
    assert f"recent={demo.media}" in ini.read_text()
    assert ini.stat().st_mode & 0o777 == 0o600
