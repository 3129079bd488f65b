"""The opened media and the Inbox, side by side in tabs: looking at what our listener received
never replaces the CD or folder that is open."""

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from desktop.ui.icons import icon
from desktop.ui.widgets.browser import BrowserPanel
from desktop.ui.widgets.narrow import ElidedLabel

if TYPE_CHECKING:
    from desktop.core.media import LoadProgress
    from desktop.core.model import MediaTree
    from desktop.core.store import Store

RELOAD_DELAY_MS = 1500  # instances arrive in bursts: reload once the burst is over


class SourcesPanel(QTabWidget):
    """Two browsers: "Media" (what the user opened) and "Inbox" (the local store: what was
    received, retrieved or imported, shown from its index)."""

    def __init__(
        self, inbox_folder: Path, store: Callable[[], "Store"], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.inbox_folder = inbox_folder
        self.store = store
        self.media = BrowserPanel()
        self.inbox = BrowserPanel()
        self.inbox.title.setText("The Inbox: what our listener received")
        self.listener = ElidedLabel()
        self.listener.setToolTip("Settings ▸ Inbox listener…")
        layout = self.inbox.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(0, self.listener)
        self.show_listener("", None)
        self.addTab(self.media, icon("open"), "Media")
        self.addTab(self.inbox, icon("inbox"), "Inbox")
        self.setTabToolTip(1, f"Instances received, retrieved or imported, in {inbox_folder}")
        self._stale = True
        self._reload = QTimer(self)
        self._reload.setSingleShot(True)
        self._reload.setInterval(RELOAD_DELAY_MS)
        self._reload.timeout.connect(self.load_inbox)
        self.currentChanged.connect(self._tab_changed)
        self.inbox.loaded.connect(self._inbox_loaded)

    def show_listener(self, ae_title: str, port: int | None, security: str = "") -> None:
        """Whether our listener runs, above the Inbox: 'Listening as COURIER on 11113 (plain)'
        or 'Listener off' (``port`` None)."""
        self.listener.setText(
            f"Listening as {ae_title} on {port} ({security})"
            if port is not None
            else "Listener off: nothing can be sent or retrieved to us (Settings ▸ Inbox listener…)"
        )

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
        """Read the Inbox's index on the thread pool (the store opens there on first use)."""
        self._stale = False
        store = self.store

        def load() -> Generator["LoadProgress", None, "MediaTree"]:
            yield from ()  # the index is read in one step: no progress to report
            return store().tree()

        self.inbox.open_loader("Reading the Inbox …", load)

    def _inbox_loaded(self, tree: "MediaTree") -> None:
        if not tree.patients:
            self.inbox.title.setText("The Inbox is empty: nothing received or imported yet")

    def _tab_changed(self, _: int) -> None:
        if self.currentWidget() is self.inbox and self._stale:
            self.load_inbox()
