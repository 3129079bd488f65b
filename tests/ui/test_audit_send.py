"""The audit events one GUI send produces: a study dropped on the demo PACS (our own TLS
listener) is begun, transferred and received, and every message validates."""

from desktop.core.audit.store import AuditLog
from desktop.demo import DEMO_NODE, Demo
from desktop.ui.main_window import MainWindow
from tests.audit.schema import schema_errors
from tests.ui.test_flow import open_demo_media
from tests.ui.test_stories import drop_on_node


def test_a_gui_send_is_audited(qtbot, window: MainWindow, demo: Demo, trail: AuditLog) -> None:  # type: ignore[no-untyped-def]
    open_demo_media(qtbot, window, demo)
    window.browser.select_first(1)  # Demo^Alice's CT Chest, 24 images
    drop_on_node(
        window, window.browser.model.mimeData([window.browser.view.currentIndex()]), DEMO_NODE
    )
    qtbot.waitUntil(lambda: bool(window.transfers.rows), timeout=20000)
    job_id = next(iter(window.transfers.rows))
    qtbot.waitUntil(lambda: window.transfers.progress_of(job_id) == (24, 24), timeout=60000)
    qtbot.waitUntil(
        lambda: any(e.event == "110104" and e.action == "R" for e in trail.entries()), timeout=20000
    )
    entries = list(trail.entries())
    assert all(schema_errors(e.xml) == [] for e in entries)
    events = [(e.event, e.action, e.outcome, e.node) for e in entries]
    assert ("110102", "E", 0, DEMO_NODE) in events
    assert ("110104", "R", 0, DEMO_NODE) in events
    qtbot.waitUntil(
        lambda: any(e.event == "110104" and e.action == "C" for e in trail.entries()),
        timeout=20000,
    )  # what our listener received, once the sender is quiet: one message for the study
    [received] = [e for e in trail.entries() if e.event == "110104" and e.action == "C"]
    assert "24 instance(s) received" in received.summary
    assert trail.verify().ok
