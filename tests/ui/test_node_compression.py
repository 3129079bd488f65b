"""The node dialog keeps a node's compression for the wire, and the send confirmation says it
in words (issue #14)."""

from pathlib import Path

from PySide6.QtWidgets import QDialog

from desktop.core.config import Node, add_node
from desktop.net.store import StoreItem
from desktop.ui.controller import TransferController
from desktop.ui.node_checks import NodeChecks
from desktop.ui.nodes_controller import NodesController
from desktop.ui.send_controller import SendController
from desktop.ui.shell import Shell
from desktop.ui.widgets.nodes import NodeDialog, NodesPanel
from desktop.ui.widgets.send_confirmation import SendConfirmation
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.transfers import TransfersPanel
from tests.peers import LOOPBACK
from tests.ui.clicking import press_ok
from tests.ui.scripted import ScriptedPrompter


def test_the_node_dialog_shows_and_changes_the_compression(qtbot) -> None:  # type: ignore[no-untyped-def]
    node = Node("pacs", "PACS", "pacs.example", 2762, tls=True, compress="auto")
    dialog = NodeDialog([], node)
    qtbot.addWidget(dialog)
    assert dialog.compress.currentText() == "auto"
    dialog.compress.setCurrentText("jpeg-ls-lossless")
    assert dialog.node().compress == "jpeg-ls-lossless"
    assert NodeDialog([]).node().compress == "none"  # a new node sends as stored
    assert not dialog.lossy.isVisibleTo(dialog)
    dialog.compress.setCurrentText("j2k-lossy")
    assert dialog.lossy.isVisibleTo(dialog)
    assert "LOSSY" in dialog.lossy.text() and "new instance UIDs" in dialog.lossy.text()
    dialog.compress.setCurrentText("auto")
    assert not dialog.lossy.isVisibleTo(dialog)


def test_the_send_confirmation_says_the_compression_in_words(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    add_node(
        shell.services.home, Node("Packed", "PACS", LOOPBACK, 104, compress="jpeg-ls-lossless")
    )
    add_node(shell.services.home, Node("Auto", "PACS", LOOPBACK, 104, compress="auto"))
    add_node(shell.services.home, Node("Plain", "PACS", LOOPBACK, 104))
    add_node(
        shell.services.home, Node("Lossy", "PACS", LOOPBACK, 104, compress="jpeg-ls-near-lossless")
    )
    sources, nodes, transfers = (
        SourcesPanel(shell.services.inbox, shell.services.store),
        NodesPanel(),
        TransfersPanel(),
    )
    for widget in (sources, nodes, transfers):
        qtbot.addWidget(widget)
    checks = NodeChecks(shell.settings)
    sending = SendController(
        shell,
        transfers,
        TransferController(shell.services),
        sources=sources,
        nodes=NodesController(shell, nodes, checks),
        checks=checks,
        show_panel=lambda: None,
        menu_actions=[],
    )
    item = StoreItem(
        tmp_path / "a.dcm", "1.2.840.10008.5.1.4.1.1.2", "1.2.3", "1.2.840.10008.1.2.1", 2**20
    )
    shown: list[str] = []

    def read(dialog: QDialog) -> None:
        assert isinstance(dialog, SendConfirmation)
        shown.append(dialog.message.text())
        press_ok(qtbot, dialog)

    for name in ("Packed", "Auto", "Plain", "Lossy"):
        prompter.answer("run", read)
        assert sending.confirm_send(name, [item]) is not None
    packed, auto, plain, lossy = shown
    assert "compressed LOSSILY as JPEG-LS near-lossless (every pixel within ±2" in lossy
    assert "not identical to the originals, with new instance UIDs" in lossy
    assert packed.endswith(
        "compressed without loss as JPEG-LS lossless, where the peer accepts it?"
    )
    assert "compressed without loss (JPEG-LS, JPEG 2000, RLE: the best the peer accepts)" in auto
    assert "compress" not in plain and plain.endswith("(no encryption)?")
