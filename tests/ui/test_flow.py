"""The whole flow, offscreen: open media → select a study → drop it on the demo PACS → a real
TLS storage SCP receives every instance → the transfer reaches 100% and the log shows TLS."""

from pathlib import Path

from desktop.core.config import edit_node
from desktop.demo import DEMO_NODE, Demo, free_loopback_port
from desktop.ui.main_window import MainWindow
from desktop.ui.models.media_model import MIME_TYPE
from tests.ui.clicking import button, click, trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import drop_on_node, wait_until_done


def open_demo_media(qtbot, window: MainWindow, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    window.opening.open_path(demo.media)
    qtbot.waitUntil(lambda: window.browser.tree is not None, timeout=20000)


def test_drop_a_study_on_the_demo_pacs(qtbot, window: MainWindow, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    open_demo_media(qtbot, window, demo)
    tree = window.browser.tree
    assert tree is not None and len(tree.patients) == 3
    window.browser.select_first(1)  # Demo^Alice's newest study: CT Chest, 24 images
    study_index = window.browser.view.currentIndex()
    data = window.browser.model.mimeData([study_index])
    assert data.hasFormat(MIME_TYPE)
    drop_on_node(window, data, DEMO_NODE)

    job = wait_until_done(qtbot, window)
    qtbot.waitUntil(lambda: window.transfers.progress_of(job) == (24, 24), timeout=20000)
    received = sorted((demo.home / "inbox").rglob("*.dcm"))
    assert len(received) == 24
    tls_entries = [e for e in window.log.entries if "TLSv1.3" in e.summary]
    assert tls_entries and "TLS_AES" in tls_entries[0].summary
    assert any(e.node == "Inbox" and "incoming handshake" in e.summary for e in window.log.entries)


def test_problems_and_errors_are_shown_not_raised(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "not-media"  # tmp_path itself holds the demo's media
    folder.mkdir()
    (folder / "notes.txt").write_text("not DICOM")
    prompter.answer("open_folder", folder)
    trigger(window, "Open folder or CD…")
    qtbot.waitUntil(lambda: bool(prompter.errors), timeout=10000)
    title, message, _ = prompter.errors[0]
    assert title == "Cannot open" and "no DICOM files" in message


def test_echo_and_tls_check_reach_the_log(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    click(qtbot, button(window.nodes, "Echo"))
    node = window.services.node(DEMO_NODE)
    assert window.checks.last(node) is None  # nothing proved yet: not verified
    qtbot.waitUntil(lambda: window.checks.last(node) is not None, timeout=20000)
    assert window.checks.last(node).ok and "verified" in window.nodes.item_for(DEMO_NODE).text()
    click(qtbot, button(window.nodes, "Check TLS"))
    qtbot.waitUntil(
        lambda: any("TLS check" in e.summary for e in window.log.entries), timeout=20000
    )
    assert any("TLSv1.3" in e.summary for e in window.log.entries)


def test_closing_with_transfers_running_asks_and_keeps_the_queue(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    demo: Demo,
    prompter: ScriptedPrompter,
) -> None:
    open_demo_media(qtbot, window, demo)
    window.browser.select_first(1)
    drop_on_node(
        window, window.browser.model.mimeData([window.browser.view.currentIndex()]), DEMO_NODE
    )
    qtbot.waitUntil(window.controller.busy, timeout=10000)
    prompter.answer("confirm", False, True)
    assert not window.close()  # refused: the transfer goes on
    assert window.close()
    assert [title for _, title in prompter.asked[-2:]] == ["Transfers are running"] * 2
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=30000)


def test_layout_and_recent_media_are_remembered(qtbot, window: MainWindow, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    open_demo_media(qtbot, window, demo)
    window.resize(1111, 777)
    window.close()
    again = MainWindow(window.services)
    qtbot.addWidget(again)
    assert again.settings.value("geometry") is not None
    assert again.settings.value("splitter") is not None
    assert str(demo.media) in [a.text() for a in again.opening.recent_menu.actions()]


def test_inbox_listener_settings_start_a_tls_listener(
    qtbot,
    window: MainWindow,  # type: ignore[no-untyped-def]
    demo: Demo,
) -> None:
    from desktop.app import InboxSettings
    from desktop.demo import free_loopback_port
    from desktop.security.handshake import ClientSettings, check_tls
    from desktop.security.tls import Profile, client_context

    port = free_loopback_port()
    assert window.listening.apply_inbox(InboxSettings("MY_INBOX", port, identity="demo-pacs"))
    keystore = window.services.keystore
    context = client_context(
        Profile.BCP195_ND, keystore.trusted_pem(), keystore.unlock_identity("demo-workstation")
    )
    transcript = check_tls(ClientSettings("127.0.0.1", port, sent_identity=True), context)
    assert transcript.ok, transcript.lines()
    again = MainWindow(window.services)  # the setting is remembered for the next start
    assert again.listening.inbox is not None and again.listening.inbox.port == port
    again.services.stop_inbox()
    assert window.listening.apply_inbox(None) and window.services.listener is None


def test_send_to_from_the_context_menu(qtbot, window: MainWindow, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    open_demo_media(qtbot, window, demo)
    window.browser.select_first(2)  # the CT series: 24 images
    window.sending.send_selected(DEMO_NODE)
    qtbot.waitUntil(lambda: bool(window.transfers.rows), timeout=20000)
    job_id = next(iter(window.transfers.rows))
    qtbot.waitUntil(lambda: window.transfers.progress_of(job_id) == (24, 24), timeout=60000)


def test_a_lock_is_verified_only_by_a_success_and_remembered(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
) -> None:
    assert "not verified yet" in window.nodes.item_for(DEMO_NODE).text()
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    click(qtbot, button(window.nodes, "Check TLS"))
    qtbot.waitUntil(
        lambda: "by TLS check" in window.nodes.item_for(DEMO_NODE).text(), timeout=20000
    )
    assert "· verified 20" in window.nodes.item_for(DEMO_NODE).text()  # with date and time
    again = MainWindow(window.services, prompter=prompter)  # the next session
    qtbot.addWidget(again)
    assert "by TLS check" in again.nodes.item_for(DEMO_NODE).text()
    edit_node(window.services.home, DEMO_NODE, port=free_loopback_port())  # another peer now
    again.node_actions.refresh_nodes()
    assert "not verified yet" in again.nodes.item_for(DEMO_NODE).text()
