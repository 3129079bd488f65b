"""A real drag and drop under Xvfb (run by test_xvfb.py in its own process).

Opens the demo, drags the first study from the tree onto 'Demo PACS (TLS)' with the X server's
pointer (xdotool), waits for the transfer to finish, and saves a screenshot of the main window.
Exit status 0 when the drop arrived and the transfer completed.
"""

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog

from desktop.demo import DEMO_NODE
from desktop.ui.launch import build_window
from desktop.ui.main_window import application
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.send_confirmation import SendConfirmation


class ConfirmingPrompter(Prompter):
    """A send is confirmed as it opens (nobody is there to click OK); other dialogs as usual."""

    def run(self, dialog: QDialog) -> bool:
        return isinstance(dialog, SendConfirmation) or super().run(dialog)


def main(screenshot: Path) -> int:
    app = application()
    window = build_window(demo=True, prompter=ConfirmingPrompter())
    window.resize(1400, 860)
    window.show()
    outcome = {"dropped": False, "done": False}
    window.nodes.send_requested.connect(lambda *_: outcome.update(dropped=True))

    def drag() -> None:
        if window.browser.tree is None:
            QTimer.singleShot(200, drag)
            return
        window.browser.select_first(1)
        view = window.browser.view
        start = view.viewport().mapToGlobal(view.visualRect(view.currentIndex()).center())
        item = window.nodes.item_for(DEMO_NODE)
        assert item is not None
        nodes = window.nodes.list
        target = nodes.viewport().mapToGlobal(nodes.visualItemRect(item).center())
        # The X server's own pointer, moved by xdotool: the drag is a real one.
        script = [f"mousemove --sync {start.x()} {start.y()}", "mousedown 1"]
        script += [f"mousemove --sync {start.x() + 4 * i} {start.y() + 4 * i}" for i in range(1, 6)]
        script += [
            f"mousemove --sync {target.x()} {target.y() - 2}",
            f"mousemove --sync {target.x()} {target.y()}",
            "sleep 0.3",
            "mouseup 1",
        ]
        subprocess.Popen(["xdotool", *" ".join(script).split()])

    def check() -> None:
        jobs = window.transfers.rows
        if jobs:
            job = next(iter(jobs))
            done, total = window.transfers.progress_of(job)
            if total > 1 and done == total:
                window.tabs.setCurrentWidget(window.log)
                window.log.table.selectRow(max(window.log.filter.rowCount() - 1, 0))
                window.tabs.setCurrentWidget(window.transfers)
                outcome["done"] = True
                QTimer.singleShot(800, finish)
                return
        QTimer.singleShot(200, check)

    def finish() -> None:
        window.grab().save(str(screenshot))
        window.controller.stop_all()
        app.quit()

    QTimer.singleShot(500, drag)
    QTimer.singleShot(600, check)
    QTimer.singleShot(90_000, app.quit)
    app.exec()
    print(outcome)
    return 0 if outcome["dropped"] and outcome["done"] else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
