"""The main window: browser and nodes on the left; viewer, transfers, log, certificates and
query/retrieve on the right. Every long action goes to a worker; errors become dialogs."""

from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QTabWidget,
)

from desktop import auditing
from desktop.app import InboxSettings, Services
from desktop.connect import node_tls
from desktop.core.config import ConfigError, Node, add_node, edit_node, remove_node
from desktop.core.errors import CourierError
from desktop.net.queue import TransferQueue
from desktop.net.store import SessionEvent, StoreItem, echo
from desktop.security.handshake import check_tls
from desktop.ui.controller import JobUpdate, TransferController
from desktop.ui.errors import ErrorReporter, describe
from desktop.ui.export_controller import ExportController
from desktop.ui.icons import icon
from desktop.ui.media_export import export_to_media
from desktop.ui.models.media_model import instance_payloads
from desktop.ui.node_checks import NodeChecks
from desktop.ui.prompter import Prompter
from desktop.ui.signatures import SignatureController
from desktop.ui.widgets.audit import AuditPanel
from desktop.ui.widgets.certificates import CertificatesPanel
from desktop.ui.widgets.inbox_settings import InboxDialog, load_inbox, save_inbox
from desktop.ui.widgets.log import LogPanel
from desktop.ui.widgets.nodes import NodeDialog, NodesPanel
from desktop.ui.widgets.query import QueryPanel
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.transfers import TransfersPanel
from desktop.ui.widgets.viewer import ViewerPanel
from desktop.ui.workers import GeneratorWorker, call, start

MAX_RECENT = 8


class MainWindow(QMainWindow):
    inbox_event = Signal(object)

    def __init__(
        self,
        services: Services,
        inbox: InboxSettings | None = None,
        *,
        prompter: Prompter | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.prompter = prompter or Prompter(self)
        self.reporter = ErrorReporter()
        self.reporter.reported.connect(self.show_error)
        self.settings = QSettings(str(services.home / "gui.ini"), QSettings.Format.IniFormat)
        self.setWindowTitle("DICOM Courier")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.sources = SourcesPanel(services.inbox)
        self.browser = self.sources.media
        self.nodes = NodesPanel()
        self.viewer = ViewerPanel()
        self.transfers = TransfersPanel()
        self.log = LogPanel()
        self.certificates = CertificatesPanel(services.keystore, self.prompter)
        self.query = QueryPanel()
        self.tabs = QTabWidget()
        for widget, title in (
            (self.viewer, "Viewer"),
            (self.transfers, "Transfers"),
            (self.log, "Log"),
            (self.certificates, "Certificates"),
            (self.query, "Query/Retrieve"),
            (AuditPanel(auditing.trail_folder(services.home)), "Audit"),
        ):
            self.tabs.addTab(widget, title)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.sources)
        left.addWidget(self.nodes)
        left.setSizes([500, 200])
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.tabs)
        self.splitter.setSizes([560, 720])
        self.setCentralWidget(self.splitter)
        self.controller = TransferController(services)
        self.exports = ExportController(
            self,
            self.settings,
            self.viewer,
            self.prompter,
            self.statusBar().showMessage,
            self.report,
        )
        self.signatures = SignatureController(
            self,
            services.keystore,
            self.sources.browsers(),
            self.sources.current_browser,
            self.prompter,
            self.statusBar().showMessage,
            self.report,
        )
        self.checks = NodeChecks(self.settings)
        self.inbox_event.connect(self._inbox_event)
        self._connect()
        self._menus()
        self.refresh_nodes()
        self.inbox = inbox or load_inbox(self.settings)
        if self.inbox is not None:
            self.apply_inbox(self.inbox, save=False)
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.restoreState(self.settings.value("state"))
            self.splitter.restoreState(self.settings.value("splitter"))
        else:
            self.resize(1400, 860)
        self.statusBar().showMessage("Ready")

    # -- wiring ------------------------------------------------------------------------------

    def _connect(self) -> None:
        for browser in self.sources.browsers():
            browser.selected.connect(self.viewer.show_selection)
            browser.failed.connect(lambda message: self.show_error("Cannot open", message))
            browser.status.connect(self.statusBar().showMessage)
            browser.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            browser.view.customContextMenuRequested.connect(self._tree_menu)
        self.browser.loaded.connect(lambda tree: self._remember(tree.root))
        self.viewer.error.connect(lambda message: self.statusBar().showMessage(message))
        self.viewer.export_png_requested.connect(self.exports.export_png)
        self.viewer.export_mp4_requested.connect(self.exports.export_mp4)
        self.nodes.send_requested.connect(self.send_payload)
        self.nodes.add_requested.connect(lambda: self.edit_node(None))
        self.nodes.edit_requested.connect(self.edit_node)
        self.nodes.remove_requested.connect(self.remove_node)
        self.nodes.echo_requested.connect(self.echo)
        self.nodes.check_requested.connect(self.check_tls)
        self.transfers.retry_requested.connect(self.retry_job)
        self.transfers.cancel_requested.connect(self.cancel_job)
        self.controller.job_updated.connect(self._job_updated)
        self.controller.session.connect(self._session)
        self.controller.note.connect(lambda node, text: self.log.add("warning", node, text))
        self.controller.failed.connect(self._transfer_failed)
        self.certificates.error.connect(self.show_error)
        self.certificates.changed.connect(self.services.forget_connections)
        self.query.find_requested.connect(self.find_studies)
        self.query.retrieve_requested.connect(self.retrieve)

    def _action(self, text: str, shortcut: Any, handler: Any, tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})")
        action.setStatusTip(tip)
        action.triggered.connect(handler)
        return action

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        self.recent_menu = QMenu("Open &recent", self)
        for text, shortcut, handler, tip in (
            (
                "&Open folder or CD…",
                QKeySequence.StandardKey.Open,
                self.open_folder,
                "Open a folder, a CD or a USB stick",
            ),
            ("Open &DICOMDIR…", "Ctrl+Shift+O", self.open_dicomdir, "Open a DICOMDIR file"),
            (
                "Show &Inbox",
                "Ctrl+I",
                self.open_inbox,
                "Show what our listener received, beside the media",
            ),
        ):
            action = self._action(text, shortcut, handler, tip)
            file_menu.addAction(action)
            toolbar.addAction(action)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        toolbar.addSeparator()
        for text, shortcut, export, tip in (
            ("Export image as &PNG…", "Ctrl+E", self.exports.export_png, "Save the image as shown"),
            (
                "Export cine or series as &MP4…",
                "Ctrl+Shift+E",
                self.exports.export_mp4,
                "Save the cine, or the series' images in order, as a video",
            ),
        ):
            action = self._action(text, shortcut, export, tip)
            file_menu.addAction(action)
            toolbar.addAction(action)
        file_menu.addAction("Export to &CD/USB…", self.export_to_media)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        signatures_menu = self.menuBar().addMenu("Si&gnatures")
        signatures_menu.addActions([self.signatures.verify_action, self.signatures.details_action])
        settings_menu = self.menuBar().addMenu("&Settings")
        settings_menu.addAction(
            self._action(
                "&Inbox listener…",
                "Ctrl+L",
                self.edit_inbox,
                "Our storage SCP: AE title, port, TLS identity",
            )
        )
        self._fill_recent()

    def export_to_media(self) -> GeneratorWorker | None:
        browser, status = self.sources.current_browser(), self.statusBar().showMessage
        return export_to_media(self, browser, self.prompter, status, self.report)

    # -- opening media -----------------------------------------------------------------------

    def open_path(self, path: Path) -> GeneratorWorker:
        self.statusBar().showMessage(f"Opening {path} …")
        self.sources.setCurrentWidget(self.browser)
        return self.browser.open_path(path)

    def open_folder(self) -> None:
        folder = self.prompter.open_folder("Open a folder, CD or USB stick")
        if folder is not None:
            self.open_path(folder)

    def open_dicomdir(self) -> None:
        name = self.prompter.open_file("Open a DICOMDIR", "DICOMDIR (DICOMDIR*);;All files (*)")
        if name is not None:
            self.open_path(name)

    def open_inbox(self) -> None:
        self.services.inbox.mkdir(parents=True, exist_ok=True)
        self.sources.show_inbox()

    def _remember(self, root: Path) -> None:
        recent = [str(root)] + [p for p in self._recent() if p != str(root)]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._fill_recent()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent") or []
        return [str(v) for v in (value if isinstance(value, list) else [value])]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(Path(p)))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls: list[QUrl] = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.open_path(Path(urls[0].toLocalFile()))

    # -- viewing and exporting ---------------------------------------------------------------

    # -- nodes -------------------------------------------------------------------------------

    def refresh_nodes(self) -> None:
        try:
            nodes = self.services.nodes()
        except ConfigError as error:
            self.show_error("Configuration", str(error))
            nodes = []
        self.nodes.show_nodes(nodes, {n.name: self.checks.last(n) for n in nodes})
        self.query.set_nodes([n.name for n in nodes])
        self._send_menu_nodes = [n.name for n in nodes]

    def edit_node(self, name: str | None) -> None:
        identities = [i.name for i in self.services.keystore.identities()]
        home = self.services.home

        def save(node: Node) -> Node:
            if name is None:
                return add_node(home, node)
            return edit_node(home, name, **asdict(node))

        dialog = NodeDialog(identities, self.services.node(name) if name else None, self, save=save)
        if self.prompter.run(dialog):
            self.refresh_nodes()

    def remove_node(self, name: str) -> None:
        if self.prompter.confirm("Remove node", f"Remove the node {name}?"):
            remove_node(self.services.home, name)
            self.refresh_nodes()

    def echo(self, name: str) -> GeneratorWorker | None:
        try:
            node = self.services.prepare(name)
        except CourierError as error:
            self.show_error("Echo", str(error))
            return None

        def done(result: Any) -> None:
            self.checks.record(node, "echo", ok=not result.status.failed)
            self.log.add_transcript(name, result.transcript, "echo")
            self.refresh_nodes()

        def failed(error: Exception) -> None:
            self.checks.record(node, "echo", ok=False)
            self.log.add("error", name, f"echo failed: {describe(error)}")
            self.refresh_nodes()
            self.report(f"Echo {name}", error)

        worker = call(lambda: echo(*self.services.connection(name)[1:]))
        worker.signals.returned.connect(done)
        worker.signals.errored.connect(failed)
        return start(worker)

    def check_tls(self, name: str) -> GeneratorWorker | None:
        try:
            node = self.services.node(name)
            if not node.tls:
                self.show_error("Check TLS", f"{name} is a plain DICOM node (TLS is off)")
                return None
            self.services.prepare(name)
        except CourierError as error:
            self.show_error("Check TLS", str(error))
            return None
        keystore = self.services.keystore

        def handshake() -> Any:
            context, settings = node_tls(node, keystore)  # the identity unlocked off the GUI
            return check_tls(settings, context)

        def done(transcript: Any) -> None:
            self.checks.record(node, "TLS check", ok=transcript.ok)
            self.refresh_nodes()
            self.log.add_transcript(name, transcript.as_json(), "TLS check")
            box = QMessageBox(
                QMessageBox.Icon.Information if transcript.ok else QMessageBox.Icon.Warning,
                f"TLS check: {name}",
                "The handshake succeeded." if transcript.ok else transcript.diagnosis.line(),
                parent=self,
            )
            box.setDetailedText("\n".join(transcript.lines()))
            box.open()

        worker = call(handshake)
        worker.signals.returned.connect(done)
        worker.signals.errored.connect(lambda error: self.report(f"TLS check {name}", error))
        return start(worker)

    # -- sending -----------------------------------------------------------------------------

    def _tree_menu(self, position: Any) -> None:
        menu = QMenu(self)
        send = menu.addMenu("Send to")
        for name in self._send_menu_nodes:
            action = send.addAction(name)
            action.triggered.connect(lambda _=False, n=name: self.send_selected(n))
        menu.addActions([self.signatures.verify_action, self.signatures.details_action])
        view = self.sources.current_browser().view
        menu.exec(view.viewport().mapToGlobal(position))

    def send_selected(self, node: str) -> None:
        browser = self.sources.current_browser()
        self.send_payload(node, instance_payloads(browser.selected_instances()))

    def send_payload(self, node_name: str, payload: list[dict[str, Any]]) -> bool:
        items = [
            StoreItem(
                Path(p["path"]),
                p["sop_class_uid"],
                p["sop_instance_uid"],
                p["transfer_syntax_uid"],
                p["size"],
            )
            for p in payload
        ]
        if not items:
            self.statusBar().showMessage("Nothing to send")
            return False
        if not self.confirm_send(node_name, items):
            return False
        try:
            self.controller.submit(node_name, items, self._describe(items))
        except CourierError as error:
            self.show_error(f"Cannot send to {node_name}", str(error))
            return False
        self.tabs.setCurrentWidget(self.transfers)
        self.statusBar().showMessage(f"Queued {len(items)} instance(s) for {node_name}")
        return True

    def _describe(self, items: list[StoreItem]) -> str:
        tree = self.browser.tree
        uids = {i.sop_instance_uid for i in items}
        for patient in tree.patients if tree else []:
            for study in patient.studies:
                study_uids = {i.sop_instance_uid for s in study.series for i in s.instances}
                if uids <= study_uids:
                    return f"{patient.patient_name}: {study.study_description or 'study'}"
        return f"{len(items)} instance(s)"

    def confirm_send(self, node_name: str, items: list[StoreItem]) -> bool:
        node = self.services.node(node_name)
        size = sum(i.size for i in items) / 2**20
        security = (
            f"TLS {node.profile}, identity {node.identity or 'none'}"
            if node.tls
            else "PLAIN DICOM (no encryption)"
        )
        compression = (
            f", compressed without loss ({node.compress}) where the peer accepts it"
            if node.compress != "none"
            else ""
        )
        text = (
            f"Send {self._describe(items)} — {len(items)} instance(s), {size:.1f} MB — to "
            f"{node.name} ({node.ae_title}@{node.host}:{node.port}) over {security}"
            f"{compression}?"
        )
        return self.prompter.confirm("Send", text)

    def _job_updated(self, update: JobUpdate) -> None:
        job = update.progress.job
        self.transfers.show_job(
            job,
            update.failures,
            reason=update.reason,
            retry_at=update.retry_at,
            state=f"node {job.node!r} is gone" if update.node_gone else "",
        )
        if update.node_gone:
            self.log.add("error", job.node, f"job {job.id} cannot run: {update.reason}")
        elif update.retry_at is not None:
            self.log.add("warning", update.node, f"job {job.id} waits to retry: {update.reason}")
        if update.failures is not None and job.sent:
            with suppress(ConfigError):  # the node may have gone meanwhile
                self.checks.record(self.services.node(update.node), "send", ok=True)
            self.refresh_nodes()
        if update.failures is not None:
            level = "error" if job.failed else "info"
            self.log.add(
                level,
                update.node,
                f"job {job.id}: {job.state}, sent {job.sent} of {job.total}",
                "\n".join(update.failures),
            )
            self.statusBar().showMessage(f"Job {job.id} to {update.node}: {job.state}")

    def _session(self, node: str, event: SessionEvent) -> None:
        what = {
            "opened": "association opened",
            "closed": "association released",
            "failed": "association failed",
        }[event.kind]
        if event.failure is not None:
            self.log.add("error", node, f"{what}: {event.failure.text}", str(event.transcript))
        else:
            self.log.add_transcript(node, event.transcript, what)

    def _transfer_failed(self, node: str, error: Exception) -> None:
        self.log.add("error", node, describe(error))
        self.report(f"Transfer to {node}", error)

    def retry_job(self, job_id: int) -> None:
        queue = TransferQueue(self.services.queue_path)
        try:
            count = queue.retry(job_id)
            job = queue.job(job_id)
        finally:
            queue.close()
        self.transfers.show_job(job, [], state=f"re-queued {count}" if count else "")
        if job.pending:
            self.controller.resume(job)
        self.statusBar().showMessage(f"Job {job_id}: {count} instance(s) re-queued")

    def cancel_job(self, job_id: int) -> None:
        queue = TransferQueue(self.services.queue_path)
        queue.cancel(job_id)
        self.transfers.show_job(queue.job(job_id))
        queue.close()

    # -- query/retrieve ----------------------------------------------------------------------

    def find_studies(self, node_name: str, keys: dict[str, str]) -> GeneratorWorker | None:
        from desktop.net.query import find  # deferred, as pydicom is: a faster start

        try:
            node = self.services.prepare(node_name)
        except CourierError as error:
            self.show_error("Find", str(error))
            return None
        worker = call(
            lambda: auditing.queried(
                node,
                "study",
                keys,
                lambda: [
                    {e.keyword: str(e.value) for e in match if e.keyword}
                    for match in find(*self.services.connection(node_name)[1:], "study", keys)
                ],
            )
        )
        worker.signals.returned.connect(self.query.show_results)
        worker.signals.errored.connect(lambda error: self.report("Find", error))
        return start(worker)

    def retrieve(self, node_name: str, study_uids: list[str]) -> GeneratorWorker | None:
        from desktop.net.query import move

        if self.inbox is None:
            self.show_error(
                "Retrieve",
                "Our listener is not running: turn it on in Settings ▸ Inbox listener, "
                "then retrieve",
            )
            return None
        try:
            self.services.prepare(node_name)
        except CourierError as error:
            self.show_error("Retrieve", str(error))
            return None
        destination = self.inbox.ae_title

        def moves() -> Any:
            _, connector, peer = self.services.connection(node_name)
            for uid in study_uids:
                yield from move(connector, peer, destination, uid)

        worker = GeneratorWorker(moves)
        worker.signals.yielded.connect(
            lambda p: self.query.show_move(p.completed, p.failed, p.remaining)
        )
        worker.signals.returned.connect(
            lambda _: self.statusBar().showMessage("Retrieved into the Inbox (the Inbox tab)")
        )
        worker.signals.errored.connect(lambda error: self.report("Retrieve", error))
        return start(worker)

    def edit_inbox(self) -> None:
        identities = [i.name for i in self.services.keystore.identities()]
        dialog = InboxDialog(identities, self.inbox, self)
        if self.prompter.run(dialog):
            self.apply_inbox(dialog.inbox())

    def apply_inbox(self, inbox: InboxSettings | None, save: bool = True) -> bool:
        """(Re)start our listener with ``inbox`` (None stops it); say so if it cannot start."""
        self.services.stop_inbox()
        self.inbox = inbox
        if save:
            save_inbox(self.settings, inbox)
        if inbox is None:
            self.statusBar().showMessage("Inbox listener stopped")
            return True
        try:
            listener = self.services.start_inbox(inbox, self._inbox_record)
        except CourierError as error:
            self.inbox = None
            self.show_error("Inbox listener", str(error))
            return False
        security = f"TLS, identity {inbox.identity}" if inbox.identity else "plain"
        self.statusBar().showMessage(
            f"Inbox listening as {inbox.ae_title} on port {listener.port} ({security})"
        )
        return True

    def _inbox_record(self, record: dict[str, Any]) -> None:
        """Called on the listener's threads: plain data crosses to the GUI thread by signal."""
        self.inbox_event.emit(record)

    def _inbox_event(self, record: dict[str, Any]) -> None:
        if record["event"] == "handshake":
            self.log.add_transcript("Inbox", record["transcript"], "incoming handshake")
        elif record["event"] == "stored":
            self.statusBar().showMessage(f"Inbox received {Path(record['path']).name}")
            self.sources.received()
        else:
            self.log.add("warning", "Inbox", f"{record['event']}: {record}")

    # -- errors and closing ------------------------------------------------------------------

    def show_error(self, title: str, message: str, details: str = "") -> None:
        self.prompter.error(title, message, details)

    def report(self, title: str, error: Exception) -> None:
        """A worker's failure: ours in plain words; anything else logged with its traceback."""
        if isinstance(error, CourierError):
            self.show_error(title, str(error))
        else:
            self.reporter.unexpected(error, title)

    def _pending_jobs(self) -> bool:
        queue = TransferQueue(self.services.queue_path)
        try:
            return bool(queue.runnable())
        finally:
            queue.close()

    def confirm_quit(self) -> bool:
        return self.prompter.confirm(
            "Transfers are running",
            "Stop the transfers and quit? What was sent is kept; the rest stays in the "
            "queue and resumes next time.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.busy() or self._pending_jobs():
            if not self.confirm_quit():
                event.ignore()
                return
            self.controller.stop_all()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.sync()
        self.viewer.close_threads()
        self.services.stop_inbox()
        event.accept()


def application() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    created = QApplication([])
    created.setApplicationName("DICOM Courier")
    created.setOrganizationName("DICOM Courier")
    return created
