"""Regenerate the screenshots of the README and docs/ from the running application (demo):
main window, viewer with a cine, certificates panel, the send confirmation, a transfer failed
with its reason, the listener's access list, the De-identify dialog, the review of burned-in
text and the summary.

QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [docs]
"""

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QDialog

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/burned_in.py's samples

from desktop.access_control import certificate_fingerprint
from desktop.app import InboxSettings, Services
from desktop.core.config import Node, add_node, set_listener_access
from desktop.demo import DEMO_AE, free_loopback_port, prepare_demo
from desktop.ui.main_window import MainWindow, application
from desktop.ui.pixel_review import PixelReviewDialog
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.access_list import AccessDialog
from desktop.ui.widgets.deidentify import DeidDialog, DeidSummary
from desktop.ui.widgets.send_confirmation import SendConfirmation
from tests.burned_in import write_samples

DEAD = "Night PACS"  # a node whose port has nothing listening: a transfer that fails


class Agreeing(Prompter):
    """Says yes to "Send …?" and its confirmation dialog (the script has no one to click);
    a dialog with a handler is shown, handed to it (to fill in and photograph), and closed."""

    def __init__(self) -> None:
        super().__init__()
        self.handlers: dict[type, Callable[[QDialog], None]] = {}

    def confirm(self, title: str, text: str) -> bool:
        return True

    def run(self, dialog: QDialog) -> bool:
        handle = self.handlers.get(type(dialog))
        if handle is None:
            return isinstance(dialog, SendConfirmation) or super().run(dialog)
        dialog.show()
        settle()
        handle(dialog)
        accepted = dialog.result() == QDialog.DialogCode.Accepted
        dialog.close()
        return accepted


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
        prompter=Agreeing(),
    )
    assert isinstance(window.prompter, Agreeing)

    def confirm_send(dialog: QDialog) -> None:
        dialog.grab().save(str(folder / "send-confirmation.png"))
        dialog.accept()

    window.prompter.handlers[SendConfirmation] = confirm_send
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

    deidentify(window, demo.home, folder)
    window.close()
    demo.remove()


def deidentify(window: MainWindow, home: Path, folder: Path) -> None:
    """File ▸ De-identify… on two images with names burned in, reviewed: the dialog filled
    in, the first review, the summary."""
    burned = home / "burned-in"
    write_samples(burned, 2, seed=3)
    window.opening.open_path(burned)
    pump(lambda: window.browser.tree is not None and window.browser.tree.root == burned)
    window.browser.view.selectAll()

    def fill_in(dialog: QDialog) -> None:
        assert isinstance(dialog, DeidDialog)
        dialog.out.setText(str(home / "de-identified"))
        dialog.recipient.setCurrentText("demo-pacs (pacs.demo)")
        dialog.pixels["review"].setChecked(True)
        settle()
        dialog.grab().save(str(folder / "deidentify-dialog.png"))
        dialog.accept()

    reviews: list[QDialog] = []

    def review(dialog: QDialog) -> None:
        if not reviews:
            dialog.grab().save(str(folder / "pixel-review.png"))
        reviews.append(dialog)
        dialog.accept()

    summaries: list[QDialog] = []

    def summary(dialog: QDialog) -> None:
        dialog.grab().save(str(folder / "deidentify-summary.png"))
        summaries.append(dialog)
        dialog.reject()

    assert isinstance(window.prompter, Agreeing)
    window.prompter.handlers.update(
        {DeidDialog: fill_in, PixelReviewDialog: review, DeidSummary: summary}
    )
    window.deidentifying.action.trigger()
    pump(lambda: bool(summaries), timeout=120)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
