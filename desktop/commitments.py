"""Composition of storage commitment for the listener: reports of our requests go to the
transfer queue, and our own reports reach a requesting AE that is a configured node.

The network layer gets plain callables; the keystore and the configuration stay here.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.config import Node, load_config
from desktop.core.errors import CourierError
from desktop.net.commitment import Report, apply
from desktop.net.link import LinkError
from desktop.net.queue import TransferQueue
from desktop.net.services.commitment import (
    CommitmentServices,
    commitment_services,
    send_report,
)
from desktop.serving import ConnectorFor

if TYPE_CHECKING:
    from desktop.core.archive import Archive
    from desktop.net.exchange import Service


def node_for(home: Path, ae_title: str) -> Node | None:
    """The configured node whose AE title is ``ae_title`` (the first, by name)."""
    nodes = sorted(load_config(home).nodes.values(), key=lambda n: n.name)
    return next((n for n in nodes if n.ae_title == ae_title), None)


def listener_services(
    home: Path, our_ae: str, archive: "Archive", connector_for: ConnectorFor
) -> CommitmentServices:
    """Storage commitment for a listener answering as ``our_ae``: the provider commits what
    ``archive`` holds and reaches a requestor that let its
    association go as the configured node with its AE title (``connector_for``, as C-MOVE
    does); reports of our own requests are matched in HOME's queue."""

    def on_report(report: Report, sender: str) -> str:
        queue = TransferQueue(home / "queue.sqlite")
        try:
            return apply(queue, report, sender).ignored  # strangers it names: logged there
        finally:
            queue.close()

    def deliver(requester: str, report: Report) -> str:
        node = node_for(home, requester)
        if node is None:
            return (
                f"{requester!r} asked for storage commitment, but no configured node has that "
                f"AE title: the report cannot be sent (node add NAME --ae {requester} ...)"
            )
        try:
            send_report(connector_for(node), called=node.ae_title, calling=our_ae, report=report)
        except LinkError as error:
            return f"the report to {node.name} could not be sent: {error.failure.text}"
        except CourierError as error:
            return f"the report to {node.name} could not be sent: {error}"
        return ""

    return CommitmentServices(archive, deliver, on_report)


def listener_commitment(
    home: Path, our_ae: str, archive: "Archive", connector_for: ConnectorFor
) -> "list[Service]":
    """The storage commitment services of a listener answering as ``our_ae`` (``listen``, the
    GUI's Inbox listener, ``move --listen``): the provider over ``archive``, and the reports
    of our own requests matched in HOME's queue."""
    return commitment_services(listener_services(home, our_ae, archive, connector_for))
