"""The main window: browser and nodes on the left; viewer, transfers, log, certificates and
query/retrieve on the right. Every long action goes to a worker; errors become dialogs."""

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
from desktop.core.config import ConfigError, add_node, edit_node, remove_node
from desktop.core.errors import CourierError
from desktop.net.probe import speaks_plain_dicom
from desktop.net.query import find, move
from desktop.net.queue import TransferQueue
from desktop.net.store import SessionEvent, StoreItem, echo
from desktop.security.handshake import ClientSettings, check_tls
from desktop.security.tls import Profile, client_context
from desktop.ui.controller import JobUpdate, TransferController
from desktop.ui.export_controller import ExportController
from desktop.ui.icons import icon
from desktop.ui.media_export import export_to_media
from desktop.ui.models.media_model import instance_payloads
from desktop.ui.prompter import Prompter
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
            self, self.settings, self.viewer, self.statusBar().showMessage, self.show_error
        )
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
        return export_to_media(self, browser, self.prompter, status, self.show_error)

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
        self.nodes.show_nodes(nodes)
        self.query.set_nodes([n.name for n in nodes])
        self._send_menu_nodes = [n.name for n in nodes]

    def edit_node(self, name: str | None) -> None:
        identities = [i.name for i in self.services.keystore.identities()]
        dialog = NodeDialog(identities, self.services.node(name) if name else None, self)
        if not self.prompter.run(dialog):
            return
        try:
            node = dialog.node()
            if name is None:
                add_node(self.services.home, node)
            else:
                edit_node(self.services.home, name, **asdict(node))
        except CourierError as error:
            self.show_error("Node not saved", str(error))
        self.refresh_nodes()

    def remove_node(self, name: str) -> None:
        if self.prompter.confirm("Remove node", f"Remove the node {name}?"):
            remove_node(self.services.home, name)
            self.refresh_nodes()

    def echo(self, name: str) -> GeneratorWorker | None:
        try:
            _, connector, peer = self.services.connection(name)
        except CourierError as error:
            self.show_error("Echo", str(error))
            return None

        def done(result: Any) -> None:
            self.nodes.status[name] = f"echo {result.status.category} {result.milliseconds:.0f} ms"
            self.log.add_transcript(name, result.transcript, "echo")
            self.refresh_nodes()

        def failed(message: str) -> None:
            self.nodes.status[name] = "echo failed"
            self.log.add("error", name, f"echo failed: {message}")
            self.refresh_nodes()
            self.show_error(f"Echo {name}", message)

        worker = call(lambda: echo(connector, peer))
        worker.signals.done.connect(done)
        worker.signals.failed.connect(failed)
        return start(worker)

    def check_tls(self, name: str) -> GeneratorWorker | None:
        try:
            node = self.services.node(name)
            if not node.tls:
                self.show_error("Check TLS", f"{name} is a plain DICOM node (TLS is off)")
                return None
            keystore = self.services.keystore
            identity = keystore.unlock_identity(node.identity) if node.identity else None
            context = client_context(
                Profile(node.profile),
                keystore.trusted_pem(),
                identity,
                check_hostname=node.check_hostname,
            )
        except CourierError as error:
            self.show_error("Check TLS", str(error))
            return None
        settings = ClientSettings(
            node.host,
            node.port,
            Profile(node.profile),
            node.server_name,
            node.check_hostname,
            identity is not None,
            timeout=node.connect_timeout,
            dicom_probe=speaks_plain_dicom,
        )

        def done(transcript: Any) -> None:
            self.log.add_transcript(name, transcript.as_json(), "TLS check")
            box = QMessageBox(
                QMessageBox.Icon.Information if transcript.ok else QMessageBox.Icon.Warning,
                f"TLS check: {name}",
                "The handshake succeeded." if transcript.ok else transcript.diagnosis.line(),
                parent=self,
            )
            box.setDetailedText("\n".join(transcript.lines()))
            box.open()

        worker = call(lambda: check_tls(settings, context))
        worker.signals.done.connect(done)
        return start(worker)

    # -- sending -----------------------------------------------------------------------------

    def _tree_menu(self, position: Any) -> None:
        menu = QMenu(self)
        send = menu.addMenu("Send to")
        for name in self._send_menu_nodes:
            action = send.addAction(name)
            action.triggered.connect(lambda _=False, n=name: self.send_selected(n))
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
        text = (
            f"Send {self._describe(items)} — {len(items)} instance(s), {size:.1f} MB — to "
            f"{node.name} ({node.ae_title}@{node.host}:{node.port}) over {security}?"
        )
        return self.prompter.confirm("Send", text)

    def _job_updated(self, update: JobUpdate) -> None:
        self.transfers.show_job(update.progress.job, update.failures)
        job = update.progress.job
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

    def _transfer_failed(self, node: str, message: str) -> None:
        self.log.add("error", node, message)
        self.show_error(f"Transfer to {node}", message)

    def retry_job(self, job_id: int) -> None:
        queue = TransferQueue(self.services.queue_path)
        queue.retry(job_id)
        queue.close()
        self.controller.resume_pending()

    def cancel_job(self, job_id: int) -> None:
        queue = TransferQueue(self.services.queue_path)
        queue.cancel(job_id)
        self.transfers.show_job(queue.job(job_id))
        queue.close()

    # -- query/retrieve ----------------------------------------------------------------------

    def find_studies(self, node_name: str, keys: dict[str, str]) -> GeneratorWorker | None:
        try:
            node, connector, peer = self.services.connection(node_name)
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
                    for match in find(connector, peer, "study", keys)
                ],
            )
        )
        worker.signals.done.connect(self.query.show_results)
        worker.signals.failed.connect(lambda message: self.show_error("Find", message))
        return start(worker)

    def retrieve(self, node_name: str, study_uids: list[str]) -> GeneratorWorker | None:
        if self.inbox is None:
            self.show_error(
                "Retrieve",
                "Our listener is not running: turn it on in Settings ▸ Inbox listener, "
                "then retrieve",
            )
            return None
        try:
            _, connector, peer = self.services.connection(node_name)
        except CourierError as error:
            self.show_error("Retrieve", str(error))
            return None
        destination = self.inbox.ae_title

        def moves() -> Any:
            for uid in study_uids:
                yield from move(connector, peer, destination, uid)

        worker = GeneratorWorker(moves)
        worker.signals.record.connect(
            lambda p: self.query.show_move(p.completed, p.failed, p.remaining)
        )
        worker.signals.done.connect(
            lambda _: self.statusBar().showMessage("Retrieved into the Inbox (the Inbox tab)")
        )
        worker.signals.failed.connect(lambda message: self.show_error("Retrieve", message))
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
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self)
        if details:
            box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()

    def confirm_quit(self) -> bool:
        return self.prompter.confirm(
            "Transfers are running",
            "Stop the transfers and quit? What was sent is kept; the rest stays in the "
            "queue and resumes next time.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.busy():
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
