"""The demo window clicked as people click it: every control once, then the stories of a
technician, a clinician and hospital IT, with only clicks, typing and dialog answers.

pytest-qt fails a test when an exception reaches a slot (its sys.excepthook); on top, the
prompter must not have shown an "Unexpected error".
"""

from pathlib import Path

from PySide6.QtCore import QMimeData, QModelIndex, QPoint, Qt
from PySide6.QtGui import QAction, QDropEvent
from PySide6.QtWidgets import QDialog, QListWidget, QPushButton, QTableWidget, QTreeView

from desktop.demo import DEMO_NODE, Demo
from desktop.ui import workers
from desktop.ui.main_window import MainWindow
from tests.pki import KEY_PASSWORD, Pki
from tests.ui.clicking import button, click, press_ok, tool_button, trigger
from tests.ui.scripted import DialogHandler, ScriptedPrompter


def no_unexpected_errors(prompter: ScriptedPrompter) -> None:
    unexpected = [e for e in prompter.errors if e[0].startswith("Unexpected")]
    assert not unexpected, unexpected


def open_media(qtbot, window: MainWindow, prompter: ScriptedPrompter, folder: Path) -> None:  # type: ignore[no-untyped-def]
    """Open ``folder`` by File ▸ Open folder or CD… and wait for the browser's tree."""
    prompter.answer("open_folder", folder)
    trigger(window, "Open folder or CD…")
    qtbot.waitUntil(lambda: window.browser.tree is not None, timeout=20000)


def open_demo(qtbot, window: MainWindow, prompter: ScriptedPrompter, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    open_media(qtbot, window, prompter, demo.media)


def click_row(qtbot, view: QTreeView, index: QModelIndex) -> None:  # type: ignore[no-untyped-def]
    view.scrollTo(index)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
    )


def study_index(window: MainWindow, study: int = 0) -> QModelIndex:
    patient = window.browser.model.index(0, 0)
    return window.browser.model.index(study, 0, patient)


def select_the_ct_series(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> QModelIndex:
    """Open the demo media and click its first study's first series (CT Chest's); its index."""
    open_demo(qtbot, window, prompter, demo)
    series = window.browser.model.index(0, 0, study_index(window))
    click_row(qtbot, window.browser.view, series)
    return series


def drop_on_node(window: MainWindow, data: QMimeData, node: str) -> None:
    """The end of a drag (offscreen QDrag.exec returns at once): a drop on the node's row."""
    target = window.nodes.list
    item = window.nodes.item_for(node)
    assert item is not None
    event = QDropEvent(
        target.visualItemRect(item).center().toPointF(),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    target.dropEvent(event)


def edit_the_demo_node(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, prompter: ScriptedPrompter, answer: DialogHandler
) -> None:
    """Select the demo PACS in the Nodes panel, click Edit… and let ``answer`` fill in the
    node dialog."""
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    prompter.answer("run", answer)
    click(qtbot, button(window.nodes, "Edit…"))


def wait_until_done(qtbot, window: MainWindow) -> int:  # type: ignore[no-untyped-def]
    """The one job the transfers panel shows, once its state says it is done."""
    qtbot.waitUntil(lambda: bool(window.transfers.rows), timeout=20000)
    [job] = window.transfers.rows
    state = window.transfers.table.item(window.transfers.rows[job], 3)
    qtbot.waitUntil(lambda: state.text() == "done", timeout=60000)
    return job


def test_every_button_and_action_of_every_panel(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    prompter.defaults["confirm"] = False  # "no" to Remove, Send, Quit ...: nothing is lost
    select_the_ct_series(qtbot, window, prompter, demo)
    clicked: set[str] = set()
    for tab in range(window.tabs.count()):
        window.tabs.setCurrentIndex(tab)
        views = [*window.findChildren(QTableWidget), *window.findChildren(QListWidget)]
        for view in views:
            if view.isVisible() and view.model().rowCount():
                view.setCurrentIndex(view.model().index(0, 0))
        for control in window.findChildren(QPushButton):
            if control.isVisible() and control.isEnabled() and control.text() not in clicked:
                click(qtbot, control)
                clicked.add(control.text())
    actions = [
        a
        for a in window.findChildren(QAction)
        if a.text()
        and a.isEnabled()
        and a.menu() is None
        and "Quit" not in a.text()
        and a not in window.opening.recent_menu.actions()[1:]  # opening one refills that menu
    ]
    triggered = {a.text().replace("&", "") for a in actions}
    for action in actions:
        action.trigger()
    qtbot.waitUntil(lambda: not workers._RUNNING, timeout=30000)
    assert {
        "Add…",
        "Edit…",
        "Remove",
        "Echo",
        "Check TLS",
        "Import CA…",
        "Import identity…",
    } <= clicked
    assert {"Find", "Copy", "Retry failed", "Cancel"} <= clicked
    assert {
        "Show Inbox",
        "Export image as PNG…",
        "Export cine or series as MP4…",
        "Export to CD/USB…",
        "Inbox listener…",
        "Play",
        "Next image",
    } <= triggered
    no_unexpected_errors(prompter)
    trigger(window, "Quit")
    assert not window.isVisible()


def test_technician_sends_a_study_to_the_demo_pacs(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    open_demo(qtbot, window, prompter, demo)
    study = study_index(window)  # Demo^Alice, CT Chest: 24 images
    click_row(qtbot, window.browser.view, study)
    drop_on_node(window, window.browser.model.mimeData([study]), DEMO_NODE)
    assert prompter.asked[-1] == ("confirm", "Send")
    job = wait_until_done(qtbot, window)
    qtbot.waitUntil(lambda: window.transfers.progress_of(job) == (24, 24), timeout=20000)
    assert len(list((demo.home / "inbox").rglob("*.dcm"))) == 24
    no_unexpected_errors(prompter)


def test_clinician_plays_a_cine_windows_and_exports_a_png(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    open_demo(qtbot, window, prompter, demo)
    model, view = window.browser.model, window.browser.view
    cine = next(
        series
        for patient in range(model.rowCount())
        for study in range(model.rowCount(model.index(patient, 0)))
        if (series := model.index(0, 0, model.index(study, 0, model.index(patient, 0)))).isValid()
        and getattr(model.node(series), "modality", "") == "XA"
    )
    view.expandAll()
    click_row(qtbot, view, cine)  # the series: its first image is shown
    viewer = window.viewer
    qtbot.waitUntil(lambda: viewer.canvas.image is not None, timeout=20000)
    play = tool_button(viewer, viewer.play_action)
    assert play.isEnabled()
    click(qtbot, play)
    qtbot.waitUntil(lambda: viewer.current >= 2, timeout=20000)
    click(qtbot, play)
    before = viewer.windowing
    centre = viewer.canvas.rect().center()
    qtbot.mousePress(viewer.canvas, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(viewer.canvas, centre + QPoint(40, 20))
    qtbot.mouseRelease(viewer.canvas, Qt.MouseButton.LeftButton, pos=centre + QPoint(40, 20))
    assert viewer.windowing != before
    prompter.answer("save_file", tmp_path / "frame")  # typed without its extension
    click(qtbot, tool_button(viewer, viewer.export_png_action))
    target = tmp_path / "frame.png"
    qtbot.waitUntil(target.exists, timeout=20000)
    assert target.read_bytes()[:4] == b"\x89PNG"
    no_unexpected_errors(prompter)


def test_hospital_it_imports_trust_binds_a_node_checks_tls_and_reads_the_log(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    pki: Pki,
) -> None:
    window.tabs.setCurrentWidget(window.certificates)
    prompter.answer("open_file", pki.path("bundle"))
    click(qtbot, button(window.certificates, "Import CA…"))
    # an identity from a CA the demo PACS (which shares this keystore, and follows its
    # changes) does not trust
    prompter.answer("open_file", pki.path("rogue_client"), pki.path("rogue_client", ".key"))
    prompter.answer("text", KEY_PASSWORD, "hospital-it")
    click(qtbot, button(window.certificates, "Import identity…"))

    def bind(dialog: QDialog) -> None:
        dialog.identity.setCurrentText("hospital-it")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    edit_the_demo_node(qtbot, window, prompter, bind)
    assert window.services.node(DEMO_NODE).identity == "hospital-it"
    click(qtbot, button(window.nodes, "Check TLS"))
    qtbot.waitUntil(
        lambda: any("TLS check" in e.summary for e in window.log.entries), timeout=20000
    )
    window.tabs.setCurrentWidget(window.log)
    click(qtbot, button(window.log, "Copy"))
    # The demo PACS does not trust the rogue CA: our new identity is refused, the log says why
    entry = next(e for e in window.log.entries if "TLS check" in e.summary)
    assert entry.level == "error" and "does not trust the CA that issued it" in entry.summary
    assert "(CN=" in entry.summary  # our issuer named: the GUI's TLS context is the CLI's
    no_unexpected_errors(prompter)
