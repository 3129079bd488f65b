"""The main window opened on the demo's home as a person starts the app again, for the tests
that prepare the home first (the command line, the queue) and look at the window after."""

from desktop.app import Services
from desktop.demo import Demo
from desktop.ui.main_window import MainWindow
from tests.ui.scripted import ScriptedPrompter


def window_on(qtbot, demo: Demo, prompter: ScriptedPrompter) -> MainWindow:  # type: ignore[no-untyped-def]
    """A main window on ``demo``'s home (no inbox), closed with the test, not shown."""
    window = MainWindow(Services(demo.home, lambda new: demo.password), prompter=prompter)
    qtbot.addWidget(window)
    return window
