"""A node renamed in the node dialog stays "reached" / "verified": a rename changes nothing we
talk to (tester's F12: its echo of a moment before was forgotten, checks being kept by name);
a change of what we talk to still forgets it."""

from pathlib import Path

from PySide6.QtWidgets import QDialog

from desktop.core.config import Node, add_node
from desktop.ui.nodes_controller import NodesController
from desktop.ui.shell import Shell
from tests.helpers import require_tool
from tests.peers import LOOPBACK, free_port, running
from tests.ui.clicking import button, click, press_ok
from tests.ui.scripted import ScriptedPrompter


def test_a_renamed_node_keeps_its_last_check_and_a_moved_one_does_not(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    nodes_controller: NodesController,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    panel = nodes_controller.nodes
    port = free_port()
    add_node(shell.services.home, Node("Any", "DCMTK", LOOPBACK, port))
    nodes_controller.refresh_nodes()
    with running([require_tool("storescp"), "-aet", "DCMTK", str(port)], port, tmp_path / "s.log"):
        panel.list.setCurrentItem(panel.item_for("Any"))
        click(qtbot, button(panel, "Echo"))
        qtbot.waitUntil(
            lambda: nodes_controller.checks.last(shell.services.node("Any")) is not None
        )

    def rename(dialog: QDialog) -> None:
        dialog.name.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.name, "Any renamed")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", rename)
    panel.list.setCurrentItem(panel.item_for("Any"))
    click(qtbot, button(panel, "Edit…"))
    renamed = shell.services.node("Any renamed")
    check = nodes_controller.checks.last(renamed)
    assert check is not None and check.ok and check.how == "echo"
    shown = panel.item_for("Any renamed")
    assert shown is not None and "reached" in shown.text(), shown.text() if shown else None

    def move(dialog: QDialog) -> None:
        dialog.port.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.port, str(free_port()))  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", move)
    panel.list.setCurrentItem(panel.item_for("Any renamed"))
    click(qtbot, button(panel, "Edit…"))
    assert nodes_controller.checks.last(shell.services.node("Any renamed")) is None
    assert "not verified yet" in panel.item_for("Any renamed").text()  # type: ignore[union-attr]
