"""The panels and controllers of sending and receiving, wired as the window wires them, for
the tests that drive them without the window."""

from collections.abc import Callable
from dataclasses import dataclass

from desktop.ui.controller import TransferController
from desktop.ui.inbox_controller import InboxController
from desktop.ui.node_checks import NodeChecks
from desktop.ui.nodes_controller import NodesController
from desktop.ui.send_controller import SendController
from desktop.ui.shell import Shell
from desktop.ui.widgets.nodes import NodesPanel
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.transfers import TransfersPanel


@dataclass
class Sending:
    sources: SourcesPanel
    nodes: NodesPanel
    transfers: TransfersPanel
    checks: NodeChecks
    node_actions: NodesController
    jobs: TransferController
    controller: SendController


def sending(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    *,
    show_panel: Callable[[], None] = lambda: None,
) -> Sending:
    """The Sources, Nodes and Transfers panels with the controllers that send between them."""
    sources = SourcesPanel(shell.services.inbox, shell.services.store)
    nodes, transfers = NodesPanel(), TransfersPanel()
    for widget in (sources, nodes, transfers):
        qtbot.addWidget(widget)
    checks = NodeChecks(shell.settings)
    node_actions = NodesController(shell, nodes, checks)
    jobs = TransferController(shell.services)
    controller = SendController(
        shell,
        transfers,
        jobs,
        sources=sources,
        nodes=node_actions,
        checks=checks,
        show_panel=show_panel,
        menu_actions=[],
    )
    return Sending(sources, nodes, transfers, checks, node_actions, jobs, controller)


def receiving(qtbot, shell: Shell) -> InboxController:  # type: ignore[no-untyped-def]
    """The Sources panel with the controller of its Inbox listener."""
    sources = SourcesPanel(shell.services.inbox, shell.services.store)
    qtbot.addWidget(sources)
    return InboxController(shell, sources)
