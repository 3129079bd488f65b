"""The opened media and the Inbox, side by side in tabs: looking at what our listener received
never replaces the CD or folder that is open."""

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTabWidget, QWidget

from desktop.ui.icons import icon
from desktop.ui.widgets.browser import BrowserPanel

RELOAD_DELAY_MS = 1500  # instances arrive in bursts: reload once the burst is over


class SourcesPanel(QTabWidget):
    """Two browsers: "Media" (what the user opened) and "Inbox" (what was received)."""

    def __init__(self, inbox_folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inbox_folder = inbox_folder
        self.media = BrowserPanel()
        self.inbox = BrowserPanel()
        self.inbox.title.setText("The Inbox: what our listener received")
        self.addTab(self.media, icon("open"), "Media")
        self.addTab(self.inbox, icon("inbox"), "Inbox")
        self.setTabToolTip(1, f"Instances received by our listener, in {inbox_folder}")
        self._stale = True
        self._reload = QTimer(self)
        self._reload.setSingleShot(True)
        self._reload.setInterval(RELOAD_DELAY_MS)
        self._reload.timeout.connect(self.load_inbox)
        self.currentChanged.connect(self._tab_changed)

    def browsers(self) -> tuple[BrowserPanel, BrowserPanel]:
        return self.media, self.inbox

    def current_browser(self) -> BrowserPanel:
        return self.inbox if self.currentWidget() is self.inbox else self.media

    def show_inbox(self) -> None:
        """Bring the Inbox tab forward, read afresh."""
        self._stale = True
        if self.currentWidget() is self.inbox:
            self.load_inbox()
        else:
            self.setCurrentWidget(self.inbox)  # loads it through currentChanged

    def received(self) -> None:
        """Something arrived: reload the Inbox soon if it is on screen, else when shown."""
        self._stale = True
        if self.currentWidget() is self.inbox:
            self._reload.start()

    def load_inbox(self) -> None:
        self._stale = False
        if not any(self.inbox_folder.rglob("*.dcm")):
            self.inbox.title.setText("The Inbox is empty: nothing received yet")
            return
        self.inbox.open_path(self.inbox_folder)

    def _tab_changed(self, _: int) -> None:
        if self.currentWidget() is self.inbox and self._stale:
            self.load_inbox()
