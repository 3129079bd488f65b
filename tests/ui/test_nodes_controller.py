"""The Nodes panel and its controller alone, by clicks: add, echo a real DCMTK storescp,
refuse a TLS check of a plain node, remove."""

import shutil

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialog

from desktop import nodes
from desktop.commands.transfer import items_from
from desktop.core.config import Node, load_config
from desktop.core.media import open_media
from desktop.demo import DEMO_NODE, Demo
from desktop.net.queue import TransferQueue
from desktop.ui.main_window import MainWindow
from desktop.ui.nodes_controller import NodesController
from desktop.ui.shell import Shell
from tests.helpers import cli, require_tool
from tests.net.conftest import make_study
from tests.peers import free_port, running
from tests.ui.clicking import button, click, press_ok
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import open_media as open_in_browser
from tests.ui.windows import window_on


def test_add_echo_check_and_remove_a_node_by_clicking(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    nodes_controller: NodesController,
    prompter: ScriptedPrompter,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    panel = nodes_controller.nodes
    listed: list[list[str]] = []
    nodes_controller.listed.connect(listed.append)
    port = free_port()

    def fill(dialog: QDialog) -> None:
        for field, text in (("name", "Modality"), ("ae_title", "DCMTK"), ("host", "127.0.0.1")):
            qtbot.keyClicks(getattr(dialog, field), text)
        dialog.port.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.port, str(port))  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", fill)
    click(qtbot, button(panel, "Add…"))
    assert load_config(shell.services.home).nodes["Modality"].port == port
    assert listed[-1] == ["Modality"] and panel.item_for("Modality") is not None

    command = [require_tool("storescp"), "-aet", "DCMTK", str(port)]
    with running(command, port, tmp_path / "storescp.log"):
        panel.list.setCurrentItem(panel.item_for("Modality"))
        click(qtbot, button(panel, "Echo"))
        qtbot.waitUntil(
            lambda: nodes_controller.checks.last(shell.services.node("Modality")) is not None
        )
    assert nodes_controller.checks.last(shell.services.node("Modality")).ok  # type: ignore[union-attr]
    assert any(e.summary.startswith("echo") for e in shell.log.entries)

    click(qtbot, button(panel, "Check TLS"))
    assert prompter.errors[-1][:2] == (
        "Check TLS",
        "Modality is a plain DICOM node (TLS is off)",
    )
    queue = TransferQueue(shell.services.home / "queue.sqlite")
    [image] = make_study(tmp_path / "study", count=1)
    job = queue.enqueue("Modality", items_from([open_media(image)], None, None)[0], "left")
    queue.close()
    prompter.answer("confirm", True)
    click(qtbot, button(panel, "Remove"))
    assert load_config(shell.services.home).nodes == {} and listed[-1] == []
    assert f"Transfer job {job} still waits for it" in prompter.questions[-1]
    assert panel.item_for("Modality") is None


def test_the_node_dialog_and_its_messages_speak_of_the_gui_not_of_flags(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    nodes_controller: NodesController,
    prompter: ScriptedPrompter,
) -> None:
    panel = nodes_controller.nodes
    seen: dict[str, bool] = {}

    def fill(dialog: QDialog) -> None:
        tls_only = (dialog.profile, dialog.identity, dialog.server_name, dialog.hostname_check)  # type: ignore[attr-defined]
        seen["disabled"] = not any(w.isEnabled() for w in tls_only)
        tick = QPoint(8, dialog.tls.height() // 2)  # type: ignore[attr-defined]
        qtbot.mouseClick(dialog.tls, Qt.MouseButton.LeftButton, pos=tick)  # type: ignore[attr-defined]
        seen["enabled"] = all(w.isEnabled() for w in tls_only)
        for field, text in (("name", "Secure"), ("ae_title", "PACS"), ("host", "127.0.0.1")):
            qtbot.keyClicks(getattr(dialog, field), text)
        press_ok(qtbot, dialog)

    prompter.answer("run", fill)
    click(qtbot, button(panel, "Add…"))
    assert seen == {"disabled": True, "enabled": True}
    assert load_config(shell.services.home).nodes["Secure"].tls
    panel.list.setCurrentItem(panel.item_for("Secure"))
    click(qtbot, button(panel, "Check TLS"))
    qtbot.waitUntil(lambda: bool(prompter.errors), timeout=10000)
    _, message, _ = prompter.errors[-1]
    assert "Certificates ▸ Import CA…" in message and "keystore import-ca" not in message


def test_the_node_list_shows_what_the_command_line_proved_until_the_node_changes(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    """The demo PACS (the window's listener) echoed with the CLI: the next start of the GUI
    says it was verified by echo; after `node edit` it is not verified yet."""

    def next_start() -> str:
        again = window_on(qtbot, demo, prompter)
        item = again.nodes.item_for(DEMO_NODE)
        assert item is not None
        return item.text()

    assert "not verified yet" in next_start()
    assert cli(capsys, "echo", DEMO_NODE)[0] == 0
    assert "· verified 20" in next_start() and "by echo" in next_start()
    assert cli(capsys, "node", "edit", DEMO_NODE, "--port", free_port())[0] == 0
    assert "not verified yet" in next_start()


def test_the_node_list_follows_the_command_line_while_the_window_is_open(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    demo: Demo,
) -> None:
    """Tester's F5 (round 6): after `node edit --port` in a shell, the open window listed
    the node at its old port for good, while Edit… and the send confirmation used the new."""
    port = free_port()

    def shown(name: str) -> str:
        item = window.nodes.item_for(name)
        return item.text() if item is not None else ""

    assert f":{demo.port} " in shown(DEMO_NODE)
    assert cli(capsys, "node", "edit", DEMO_NODE, "--port", port)[0] == 0
    qtbot.waitUntil(lambda: f":{port} " in shown(DEMO_NODE), timeout=10000)
    assert cli(capsys, "node", "add", "Night PACS", "--ae", "NIGHT", "--host", "127.0.0.1",
               "--port", port)[0] == 0  # fmt: skip
    qtbot.waitUntil(lambda: "NIGHT@127.0.0.1" in shown("Night PACS"), timeout=10000)
    assert window.sending._send_menu_nodes == [DEMO_NODE, "Night PACS"]
    assert cli(capsys, "node", "remove", "Night PACS")[0] == 0
    qtbot.waitUntil(lambda: window.nodes.item_for("Night PACS") is None, timeout=10000)
    assert window.sending._send_menu_nodes == [DEMO_NODE]


def test_a_node_renamed_elsewhere_is_said_so_in_plain_words_and_the_list_follows(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    """Tester's F8 (round 6): Send to ▸ a node renamed by the command line a moment before
    showed "This is a fault in DICOM Courier" with a traceback; Echo an error, the list
    unchanged. Clicked before the window has seen the change (its menu and list made before)."""
    open_in_browser(qtbot, window, prompter, demo.media)
    window.browser.view.setCurrentIndex(window.browser.model.index(0, 0))  # a patient
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    assert cli(capsys, "node", "edit", DEMO_NODE, "--rename", "Renamed PACS")[0] == 0
    window.sending.send_selected(DEMO_NODE)  # what Send to ▸ Demo PACS does
    assert window.nodes.item_for("Renamed PACS") is not None  # the list shown again
    assert window.nodes.item_for(DEMO_NODE) is None
    assert window.sending._send_menu_nodes == ["Renamed PACS"]
    assert cli(capsys, "node", "edit", "Renamed PACS", "--rename", "Moved again")[0] == 0
    click(qtbot, button(window.nodes, "Echo"))  # "Renamed PACS" still selected
    assert [title for title, _, _ in prompter.errors] == [
        f"Cannot send to {DEMO_NODE}",
        "Echo",
    ]
    for _, message, _ in prompter.errors:
        assert "It was renamed or removed by another program" in message, message
    assert f"no node named {DEMO_NODE!r}; known nodes: Renamed PACS" in prompter.errors[0][1]
    assert window.nodes.item_for("Moved again") is not None
    assert not window.controller.busy()  # nothing was queued


def test_the_node_dialog_saves_only_what_was_changed_in_it(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    """Tester's F15 (round 6), its node half: OK in Edit… opened before `node edit --port`
    wrote back the port the dialog had read."""
    ports = free_port(), free_port()

    def moved_meanwhile_then_ok(dialog: QDialog) -> None:
        assert cli(capsys, "node", "edit", DEMO_NODE, "--port", ports[0])[0] == 0
        press_ok(qtbot, dialog)

    def moved_meanwhile_then_retitled(dialog: QDialog) -> None:
        assert cli(capsys, "node", "edit", DEMO_NODE, "--port", ports[1])[0] == 0
        dialog.ae_title.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.ae_title, "NEW_TITLE")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", moved_meanwhile_then_ok, moved_meanwhile_then_retitled)
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    click(qtbot, button(window.nodes, "Edit…"))
    assert load_config(demo.home).nodes[DEMO_NODE].port == ports[0]
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    click(qtbot, button(window.nodes, "Edit…"))
    node = load_config(demo.home).nodes[DEMO_NODE]
    assert (node.port, node.ae_title) == (ports[1], "NEW_TITLE")


def test_echo_says_its_answer_in_the_status_line(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    nodes_controller: NodesController,
    prompter: ScriptedPrompter,
    statuses: list[str],
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """G11 of findings7: an echo answered, or failed, was said only in the Log tab."""
    panel = nodes_controller.nodes
    port, dead = free_port(), free_port()
    nodes.add(shell.services.home, Node("Modality", "DCMTK", "127.0.0.1", port))
    nodes.add(shell.services.home, Node("Dead", "DEAD", "127.0.0.1", dead, connect_timeout=2))
    nodes_controller.refresh_nodes()

    def echo(name: str) -> None:
        panel.list.setCurrentItem(panel.item_for(name))
        before = len(statuses)
        click(qtbot, button(panel, "Echo"))
        qtbot.waitUntil(lambda: len(statuses) > before, timeout=10000)

    with running([require_tool("storescp"), "-aet", "DCMTK", str(port)], port, tmp_path / "s.log"):
        echo("Modality")
    assert statuses[-1].startswith("Echo Modality: success (0x0000) in ")
    assert statuses[-1].endswith(" ms (plain)") and not prompter.errors
    echo("Dead")
    assert statuses[-1].startswith("Echo Dead failed: ") and "refused" in statuses[-1]
    assert prompter.errors[-1][0] == "Echo Dead"  # and a dialog, as Check TLS has


def test_a_name_with_an_ampersand_is_shown_as_it_is_in_the_menus(  # type: ignore[no-untyped-def]
    qtbot,
    capsys: pytest.CaptureFixture[str],
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path,
) -> None:
    """F6 of findings9: Send to ▸ "R&D PACS" was shown "RD PACS" (the '&' taken as an Alt
    shortcut), and a recent folder "Smith & Jones" likewise."""
    name = "R&D PACS"
    assert (
        cli(capsys, "node", "add", name, "--ae", "RD", "--host", "127.0.0.1", "--port", "104")[0]
        == 0
    )
    folder = tmp_path / "Smith & Jones"
    shutil.copytree(demo.media, folder)
    open_in_browser(qtbot, window, prompter, folder)
    window.browser.view.setCurrentIndex(window.browser.model.index(0, 0))  # a patient
    window.node_actions.refresh_nodes()
    menu = window.sending.tree_menu()
    [send_to] = [a.menu() for a in menu.actions() if a.text() == "Send to"]
    shown = {a.iconText(): a for a in send_to.actions()}
    assert name in shown and "RD PACS" not in shown
    shown[name].trigger()  # confirmed: queued for the node of that name (nothing listens)
    queue = TransferQueue(window.services.queue_path)
    try:
        qtbot.waitUntil(lambda: [job.node for job in queue.jobs()] == [name], timeout=10000)
    finally:
        queue.close()
    assert str(folder) in [a.iconText() for a in window.opening.recent_menu.actions()]
