"""The Nodes panel: add, edit and remove nodes; echo and TLS checks on the thread pool, their
outcome in the Log and in each node's lock ("verified" only after a check that succeeded)."""

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop import nodes
from desktop.connect import node_tls
from desktop.core.config import ConfigError, Node
from desktop.core.errors import CourierError
from desktop.net.store import echo
from desktop.security.handshake import check_tls
from desktop.ui.errors import describe, gui_words
from desktop.ui.node_checks import NodeChecks
from desktop.ui.shell import Shell
from desktop.ui.widgets.nodes import NodeDialog, NodesPanel
from desktop.ui.workers import GeneratorWorker, call, start


class NodesController(QObject):
    listed = Signal(list)  # the node names, after every refresh

    def __init__(self, shell: Shell, panel: NodesPanel, checks: NodeChecks) -> None:
        super().__init__(shell.window)
        self.shell, self.nodes, self.checks = shell, panel, checks
        self.services, self.log = shell.services, shell.log
        panel.add_requested.connect(lambda: self.edit_node(None))
        panel.edit_requested.connect(self.edit_node)
        panel.remove_requested.connect(self.remove_node)
        panel.echo_requested.connect(self.echo)
        panel.check_requested.connect(self.check_tls)

    def refresh_nodes(self) -> None:
        try:
            nodes = self.services.nodes()
        except ConfigError as error:
            self.shell.show_error("Configuration", str(error))
            nodes = []
        self.nodes.show_nodes(nodes, {n.name: self.checks.last(n) for n in nodes})
        self.listed.emit([n.name for n in nodes])

    def edit_node(self, name: str | None) -> None:
        identities = [i.name for i in self.services.keystore.identities()]
        home = self.services.home

        def save(node: Node) -> Node:
            if node.deid_recipient:
                recipient = Path(node.deid_recipient)
                if not recipient.is_file():
                    raise ConfigError(
                        f"{recipient}: no such certificate file", field="deid_recipient"
                    )
                node = replace(node, deid_recipient=str(recipient.resolve()))
            if name is None:
                return nodes.add(home, node)
            return nodes.edit(home, name, **asdict(node))

        before = self.services.node(name) if name else None
        dialog = NodeDialog(identities, before, self.shell.window, save=save)
        if self.shell.prompter.run(dialog):
            if before is not None:
                self.checks.renamed(before, dialog.node())
            self.refresh_nodes()

    def remove_node(self, name: str) -> None:
        waiting = nodes.waiting_jobs(self.services.home, name)
        question = f"Remove the node {name}?"
        if waiting:
            question += (
                f"\n\nTransfer job {', '.join(map(str, waiting))} still waits for it and "
                "will not go anywhere: cancel it in Transfers, or add the node again."
            )
        if self.shell.prompter.confirm("Remove node", question):
            nodes.remove(self.services.home, name)
            self.refresh_nodes()

    def echo(self, name: str) -> GeneratorWorker | None:
        try:
            node = self.services.prepare(name)
        except CourierError as error:
            self.shell.show_error("Echo", str(error))
            return None

        def done(result: Any) -> None:
            self.checks.record(node, "echo", ok=not result.status.failed)
            self.log.add_transcript(name, result.transcript, "echo")
            self.refresh_nodes()

        def failed(error: Exception) -> None:
            self.checks.record(node, "echo", ok=False)
            self.log.add("error", name, f"echo failed: {describe(error)}")
            self.refresh_nodes()
            self.shell.report(f"Echo {name}", error)

        worker = call(lambda: echo(*self.services.connection(name)[1:]))
        worker.signals.returned.connect(done)
        worker.signals.errored.connect(failed)
        return start(worker)

    def check_tls(self, name: str) -> GeneratorWorker | None:
        try:
            node = self.services.node(name)
            if not node.tls:
                self.shell.show_error("Check TLS", f"{name} is a plain DICOM node (TLS is off)")
                return None
            self.services.prepare(name)
        except CourierError as error:
            self.shell.show_error("Check TLS", str(error))
            return None
        keystore = self.services.keystore

        def handshake() -> Any:
            context, settings = node_tls(node, keystore)  # the identity unlocked off the GUI
            return check_tls(settings, context)

        def done(transcript: Any) -> None:
            self.checks.record(node, "TLS check", ok=transcript.ok)
            self.refresh_nodes()
            self.log.add_transcript(name, transcript.as_json(), "TLS check")
            self.shell.prompter.inform(
                f"TLS check: {name}",
                "The handshake succeeded."
                if transcript.ok
                else gui_words(transcript.diagnosis.line()),
                "\n".join(transcript.lines()),
                warning=not transcript.ok,
            )

        worker = call(handshake)
        worker.signals.returned.connect(done)
        worker.signals.errored.connect(lambda error: self.shell.report(f"TLS check {name}", error))
        return start(worker)
