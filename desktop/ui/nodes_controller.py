"""The Nodes panel: add, edit and remove nodes; echo and TLS checks on the thread pool, their
outcome in the Log and in each node's lock ("verified" only after a check that succeeded).
The list follows the configuration file: a node added, edited or removed by the command line
(``dicom-courier node ...``, a script of IT's) is shown as it is now, within a moment."""

from dataclasses import asdict, replace
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from desktop import nodes
from desktop.connect import node_tls
from desktop.core.config import ConfigError, Node, UnknownNodeError, config_path
from desktop.core.errors import CourierError
from desktop.core.files import private_folder
from desktop.net.store import EchoResult, echo
from desktop.security.handshake import Transcript, check_tls
from desktop.ui.errors import describe, gui_words
from desktop.ui.node_checks import NodeChecks
from desktop.ui.shell import Shell
from desktop.ui.widgets.nodes import NodeDialog, NodesPanel
from desktop.ui.workers import GeneratorWorker, call, start

CONFIG_SETTLE_MS = 150  #: a change is read once its burst of file events is over


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
        self._seen: tuple[int, int, int] | None = None  # config.json's stamp, last listed
        # our atomic writes replace config.json (watched in its folder, told apart from the
        # queue's and settings' files coming and going there by its stamp); an editor may
        # write it in place (the file is watched too)
        self._settle = QTimer(self, singleShot=True, interval=CONFIG_SETTLE_MS)
        self._settle.timeout.connect(self._config_touched)
        self._watcher = QFileSystemWatcher([str(private_folder(self.services.home))], self)
        self._watcher.directoryChanged.connect(self._touched)
        self._watcher.fileChanged.connect(self._touched)

    def _touched(self) -> None:
        if not self._settle.isActive():
            self._settle.start()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            found = config_path(self.services.home).stat()
        except OSError:
            return None
        return found.st_ino, found.st_mtime_ns, found.st_size

    def _config_touched(self) -> None:
        if self._stamp() != self._seen:
            self.refresh_nodes()

    def refresh_nodes(self) -> None:
        self._seen = self._stamp()
        config = str(config_path(self.services.home))
        if self._seen is not None and config not in self._watcher.files():
            self._watcher.addPath(config)  # dropped by the watcher once the file was replaced
        try:
            nodes = self.services.nodes()
        except ConfigError as error:
            self.shell.show_error("Configuration", str(error))
            nodes = []
        self.nodes.show_nodes(nodes, {n.name: self.checks.last(n) for n in nodes})
        self.listed.emit([n.name for n in nodes])

    def refused(self, title: str, error: CourierError) -> None:
        """Say why an action on a node was refused; a node gone since the list was shown
        (renamed or removed by another program) is said so, and the list shown as it is."""
        message = str(error)
        if isinstance(error, UnknownNodeError):
            self.refresh_nodes()
            message += (
                ".\n\nIt was renamed or removed by another program (dicom-courier node, "
                "another window) after the list was shown; the node list shows the nodes as "
                "they are now."
            )
        self.shell.show_error(title, message)

    def edit_node(self, name: str | None) -> None:
        """Edit the node ``name`` (a new one when None) in the node dialog, and save it."""
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
            if name is None or before is None:
                return nodes.add(home, node)
            # only what was changed in the dialog: a change another program made meanwhile
            # (node edit --port) is kept, and OK without a change writes nothing
            changes = {k: v for k, v in asdict(node).items() if v != getattr(before, k)}
            return nodes.edit(home, name, **changes)[1] if changes else node

        try:
            before = self.services.node(name) if name else None
        except UnknownNodeError as error:
            self.refused("Edit node", error)
            return
        dialog = NodeDialog(identities, before, self.shell.window, save=save)
        if self.shell.prompter.run(dialog):
            if before is not None:
                self.checks.renamed(before, dialog.node())
            self.refresh_nodes()

    def remove_node(self, name: str) -> None:
        """Remove the node ``name`` once confirmed (saying which jobs still wait for it)."""
        waiting = nodes.waiting_jobs(self.services.home, name)
        question = f"Remove the node {name}?"
        if waiting:
            question += (
                f"\n\nTransfer job {', '.join(map(str, waiting))} still waits for it and "
                "will not go anywhere: cancel it in Transfers, or add the node again."
            )
        if self.shell.prompter.confirm("Remove node", question):
            try:
                nodes.remove(self.services.home, name)
            except UnknownNodeError as error:
                self.refused("Remove node", error)
                return
            self.refresh_nodes()

    def echo(self, name: str) -> GeneratorWorker | None:
        """C-ECHO the node ``name`` on a worker; the result goes to the log and the node list."""
        try:
            node = self.services.prepare(name)
        except CourierError as error:
            self.refused("Echo", error)
            return None

        def done(result: EchoResult) -> None:
            self.checks.record(node, "echo", ok=not result.status.failed)
            self.log.add_transcript(name, result.transcript, "echo")
            self.refresh_nodes()
            answer = nodes.echo_words(name, result)
            self.shell.status(answer[0].upper() + answer[1:])
            if result.status.failed:  # it answered, refusing: as visible as a failure
                self.shell.prompter.inform(f"Echo {name}", answer, warning=True)

        def failed(error: Exception) -> None:
            self.checks.record(node, "echo", ok=False)
            self.log.add("error", name, f"echo failed: {describe(error)}")
            self.refresh_nodes()
            self.shell.status(f"Echo {name} failed: {describe(error)}")
            self.shell.report(f"Echo {name}", error)

        worker = call(lambda: echo(*self.services.connection(name)[1:]))
        worker.signals.returned.connect(done)
        worker.signals.errored.connect(failed)
        return start(worker)

    def check_tls(self, name: str) -> GeneratorWorker | None:
        """Handshake with the TLS node ``name`` on a worker and show the transcript."""
        try:
            node = self.services.node(name)
            if not node.tls:
                self.shell.show_error("Check TLS", f"{name} is a plain DICOM node (TLS is off)")
                return None
            self.services.prepare(name)
        except CourierError as error:
            self.refused("Check TLS", error)
            return None
        keystore = self.services.keystore

        def handshake() -> Transcript:
            context, settings = node_tls(node, keystore)  # the identity unlocked off the GUI
            return check_tls(settings, context)

        def done(transcript: Transcript) -> None:
            self.checks.record(node, "TLS check", ok=transcript.ok)
            self.refresh_nodes()
            self.log.add_transcript(name, transcript.as_json(), "TLS check")
            diagnosis = transcript.diagnosis  # None when the handshake succeeded
            self.shell.prompter.inform(
                f"TLS check: {name}",
                "The handshake succeeded." if diagnosis is None else gui_words(diagnosis.line()),
                "\n".join(transcript.lines()),
                warning=diagnosis is not None,
            )

        worker = call(handshake)
        worker.signals.returned.connect(done)
        worker.signals.errored.connect(lambda error: self.shell.report(f"TLS check {name}", error))
        return start(worker)
