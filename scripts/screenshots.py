"""Regenerate the screenshots of the README and docs/ from the running application (demo):
main window, viewer with a cine, certificates panel, the send confirmation, a transfer failed
with its reason, the listener's access list.

QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [docs]
"""

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QDialog

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from desktop.access_control import certificate_fingerprint
from desktop.app import InboxSettings, Services
from desktop.core.config import Node, add_node, set_listener_access
from desktop.demo import DEMO_AE, free_loopback_port, prepare_demo
from desktop.ui.main_window import MainWindow, application
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.access_list import AccessDialog
from desktop.ui.widgets.send_confirmation import SendConfirmation

DEAD = "Night PACS"  # a node whose port has nothing listening: a transfer that fails


class Agreeing(Prompter):
    """Says yes to "Send …?" and its confirmation dialog (the script has no one to click),
    the dialog photographed into ``folder`` first."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def confirm(self, title: str, text: str) -> bool:
        return True

    def run(self, dialog: QDialog) -> bool:
        if not isinstance(dialog, SendConfirmation):
            return super().run(dialog)
        dialog.show()
        settle()
        dialog.grab().save(str(self.folder / "send-confirmation.png"))
        dialog.close()
        return True


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
        prompter=Agreeing(folder),
    )
    window.resize(1440, 880)
    window.show()
    window.opening.open_path(demo.media)
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

    show_study(0, 1)  # the MR study, sent to the dead node: retried, then failed with its reason
    dead = Node(DEAD, "NIGHTPACS", "127.0.0.1", free_loopback_port(), connect_timeout=2)
    add_node(demo.home, dead)
    window.node_actions.refresh_nodes()
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEAD))
    window.sending.send_selected(DEAD)
    table = window.transfers.table
    pump(lambda: table.rowCount() > 0 and table.item(0, 3).text() == "failed", timeout=60)
    table.selectRow(0)
    settle()  # the row wraps the whole reason by itself
    window.grab().save(str(folder / "transfer-failure.png"))

    [workstation] = [i for i in window.services.keystore.identities() if "workstation" in i.name]
    sha256 = workstation.certificate.fingerprint.replace(":", "").lower()
    entries = [f"WORKSTATION={sha256}/query,retrieve", "CT_SCANNER/store", "REPORTING/query"]
    set_listener_access(demo.home, entries)
    editor = AccessDialog(entries, window.prompter, certificate_fingerprint, window)
    editor.show()
    editor.table.selectRow(0)
    settle()
    editor.grab().save(str(folder / "listener-access.png"))
    editor.close()
    window.close()
    demo.remove()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
