"""The node dialog keeps a node's compression for the wire (issue #14)."""

from desktop.core.config import Node
from desktop.ui.widgets.nodes import NodeDialog


def test_the_node_dialog_shows_and_changes_the_compression(qtbot) -> None:  # type: ignore[no-untyped-def]
    node = Node("pacs", "PACS", "pacs.example", 2762, tls=True, compress="auto")
    dialog = NodeDialog([], node)
    qtbot.addWidget(dialog)
    assert dialog.compress.currentText() == "auto"
    dialog.compress.setCurrentText("jpeg-ls-lossless")
    assert dialog.node().compress == "jpeg-ls-lossless"
    assert NodeDialog([]).node().compress == "none"  # a new node sends as stored
