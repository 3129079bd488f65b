"""Composition: what our listener serves beyond storage, for ``listen``, the GUI's Inbox
listener and the demo PACS: C-FIND, C-MOVE and C-GET over the local store.

C-MOVE reaches only configured nodes, found by AE title when the move arrives (the config is
read then, so a node added meanwhile counts), each over its own connector: TLS with its
profile and identity when the node is TLS, as ``send`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.config import Node, load_config

if TYPE_CHECKING:
    from pydicom import Dataset

    from desktop.core.archive import Archive, Level, Model
    from desktop.net.exchange import Service
    from desktop.net.link import Connector
    from desktop.net.store import Peer

ConnectorFor = Callable[[Node], "Connector"]


class DeferredArchive:
    """The store, opened when a service first needs it (the listener starts without it)."""

    def __init__(self, open_store: Callable[[], Archive]) -> None:
        self.open_store = open_store

    def find(self, *, model: Model, level: Level, identifier: Dataset) -> Iterator[Dataset]:
        return self.open_store().find(model=model, level=level, identifier=identifier)

    def locate(self, *, model: Model, level: Level, identifier: Dataset) -> list[Path]:
        return self.open_store().locate(model=model, level=level, identifier=identifier)

    def holds(self, *, sop_class_uid: str, sop_instance_uid: str) -> Path | None:
        return self.open_store().holds(
            sop_class_uid=sop_class_uid, sop_instance_uid=sop_instance_uid
        )

    def add(self, path: Path) -> None:
        self.open_store().add(path)


class CachedConnectors:
    """Each node's connector, made by ``make`` once per node settings (the identity is
    unlocked once, not per move), until ``clear`` or until ``state`` (the keystore's
    ``trust_state``) changes: a CRL imported or a CA removed by another process applies to
    the next connection of a long-running process."""

    def __init__(self, make: ConnectorFor, state: Callable[[], object] | None = None) -> None:
        self._make, self._state = make, state
        self._seen: object = state() if state is not None else None
        self._made: dict[Node, Connector] = {}
        self._lock = threading.Lock()

    def __call__(self, node: Node) -> Connector:
        now = self._state() if self._state is not None else None
        with self._lock:
            if now != self._seen:
                self._made.clear()
                self._seen = now
            if node not in self._made:
                self._made[node] = self._make(node)
            return self._made[node]

    def clear(self) -> None:
        """Forget every connector made (after the keystore changed)."""
        with self._lock:
            self._made.clear()


def cached_connectors(
    make: ConnectorFor, state: Callable[[], object] | None = None
) -> CachedConnectors:
    """``make`` once per node settings (and ``state``): the connectors ``listen``, ``get``
    and the GUI reuse."""
    return CachedConnectors(make, state)


def node_destinations(
    home: Path, connector_for: ConnectorFor
) -> Callable[[str], tuple[Connector, Peer] | str | None]:
    """Move destinations: the configured node with that AE title, reached as it is set up.
    A node that receives only de-identified or signed copies is refused (a move sends the
    stored originals), and so is one whose TLS identity cannot be opened (no keystore
    password here): the reason says so, answered with a C-MOVE failure status."""
    from desktop.core.errors import CourierError
    from desktop.net.store import Peer

    def destination(ae_title: str) -> tuple[Connector, Peer] | str | None:
        node = next((n for n in load_config(home).nodes.values() if n.ae_title == ae_title), None)
        if node is None:
            return None
        if node.deid or node.sign_profile:
            copies = "de-identified" if node.deid else "signed"
            return (
                f"node {node.name} receives only {copies} copies and a move sends the "
                "originals: send to it with dicom-courier send"
            )
        try:
            connector = connector_for(node)
        except CourierError as error:
            return f"node {node.name} cannot be reached: its TLS identity {node.identity}: {error}"
        return connector, Peer(node.ae_title, node.calling_ae_title)

    return destination


def query_retrieve(archive: Archive, home: Path, connector_for: ConnectorFor) -> list[Service]:
    """C-FIND, C-MOVE (to configured nodes) and C-GET over ``archive``."""
    from desktop.net.services.find import find_service
    from desktop.net.services.get import get_service
    from desktop.net.services.move import move_service

    return [
        find_service(archive),
        move_service(archive, node_destinations(home, connector_for)),
        get_service(archive),
    ]
