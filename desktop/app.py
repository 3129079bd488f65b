"""Composition root of the desktop application: the services the GUI's panels share.

Qt-free on purpose: the GUI gives it a password source (a dialog), the CLI would give another.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop import auditing
from desktop.access_control import ConfiguredAccess
from desktop.commitments import listener_commitment
from desktop.connect import listener_tls, node_connector
from desktop.core.config import Node, find_node, load_config
from desktop.inbox import LazyStore, indexing
from desktop.net.history import History
from desktop.net.link import Connector
from desktop.net.scp import ListenerSettings, Sink, StorageListener
from desktop.net.store import Peer
from desktop.security.keystore import Keystore
from desktop.security.passwords import PasswordSource
from desktop.security.tls import Profile
from desktop.serving import DeferredArchive, cached_connectors, query_retrieve


@dataclass(frozen=True, slots=True)
class InboxSettings:
    """Our own listener: where the Inbox receives (C-MOVE destination, demo PACS)."""

    ae_title: str
    port: int
    identity: str = ""  # TLS when set
    profile: str = "bcp195-nd"


class Services:
    """Home, keystore, configuration, queue, history and connections for one user."""

    def __init__(self, home: Path, password: PasswordSource) -> None:
        self.home = home
        self.keystore = Keystore(home, password, on_change=auditing.configuration_changed)
        self.history = History(home / "history.jsonl")
        self.queue_path = home / "queue.sqlite"
        self.inbox = home / "inbox"
        self.store = LazyStore(self.inbox)  # the Inbox's index, opened when first needed
        self.listener: StorageListener | None = None
        #: Each node's connector (identity unlocked, TLS context built), made once per node
        #: settings and session, on the caller's thread.
        self.connector = cached_connectors(
            lambda node: node_connector(node, self.keystore), self.keystore.trust_state
        )

    def nodes(self) -> list[Node]:
        return list(load_config(self.home).nodes.values())

    def node(self, name: str) -> Node:
        return find_node(load_config(self.home), name)

    def prepare(self, name: str) -> Node:
        """The node, with the keystore password asked for now if its identity needs one: the
        GUI calls this on its thread, then ``connection`` on a worker's."""
        node = self.node(name)
        if node.tls and node.identity:
            self.keystore.take_password()
        return node

    def connection(self, name: str) -> tuple[Node, Connector, Peer]:
        """The node, its connector (see ``connector``) and peer."""
        node = self.node(name)
        return node, self.connector(node), Peer(node.ae_title, node.calling_ae_title)

    def forget_connections(self) -> None:
        """After the keystore changed (a CA or identity imported or removed)."""
        self.connector.clear()

    def start_inbox(self, settings: InboxSettings, sink: Sink) -> StorageListener:
        """Run our storage SCP into the Inbox, serving query/retrieve of it (TLS with client
        certificates if configured)."""
        listener_settings = ListenerSettings(
            settings.ae_title, "127.0.0.1", settings.port, self.inbox
        )
        access = ConfiguredAccess(self.home)  # an edit applies from the next association
        access()  # a configuration that cannot be read is said now
        acceptor = None
        if settings.identity:
            listener_settings.tls_context, acceptor = listener_tls(
                self.keystore, settings.identity, Profile(settings.profile)
            )
        audited = indexing(
            auditing.listener(self._warnings_kept(sink), settings.ae_title), self.store
        )
        archive = DeferredArchive(self.store)
        services = query_retrieve(archive, self.home, self.connector)
        services += listener_commitment(self.home, settings.ae_title, archive, self.connector)
        self.listener = StorageListener(
            listener_settings, audited, acceptor, services=services, access=access
        ).start()
        return self.listener

    def _warnings_kept(self, sink: Sink) -> Sink:
        """``sink``, the listener's warnings and failures (a study UID of two patients, a
        retrieve refused for one) also kept in the history, where ``dicom-courier history``
        shows them as it shows ``listen``'s."""

        def kept(record: dict[str, Any]) -> None:
            if record.get("warning") or record.get("failure"):
                self.history.append(record)
            sink(record)

        return kept

    def stop_inbox(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
