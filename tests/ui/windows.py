"""The main window opened on the demo's home as a person starts the app again, for the tests
that prepare the home first (the command line, the queue) and look at the window after, and
what they click on its Transfers tab."""

from pathlib import Path

from desktop.app import Services
from desktop.demo import Demo
from desktop.ui.main_window import MainWindow
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter


def window_on(qtbot, demo: Demo, prompter: ScriptedPrompter) -> MainWindow:  # type: ignore[no-untyped-def]
    """A main window on ``demo``'s home (no inbox), closed with the test, not shown."""
    window = MainWindow(Services(demo.home, lambda new: demo.password), prompter=prompter)
    qtbot.addWidget(window)
    return window


def demo_study(demo: Demo) -> Path:
    """The folder of the demo media's first study."""
    return next(p for p in demo.media.iterdir() if p.is_dir())


def demo_series(demo: Demo) -> tuple[Path, int]:
    """The folder of the demo media's first series and how many files it holds."""
    series = sorted(p for p in demo.media.rglob("SE*") if p.is_dir())[0]
    return series, sum(1 for p in series.iterdir() if p.is_file())


def click_on_job(qtbot, window: MainWindow, job: int, label: str) -> None:  # type: ignore[no-untyped-def]
    """Select ``job``'s row on the Transfers tab and click ``label`` (Retry failed, Cancel)."""
    window.tabs.setCurrentWidget(window.transfers)
    window.transfers.table.selectRow(window.transfers.rows[job])
    click(qtbot, button(window.transfers, label))


def stop_transfers(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Stop every job, as quitting does, and wait until none runs."""
    window.controller.stop_all()
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=30000)
