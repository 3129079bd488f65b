"""The main window: browser and nodes on the left; viewer, transfers, log, certificates and
query/retrieve on the right. The window only composes the panels and their controllers
(media, nodes, sending, query, Inbox listener, exports, signatures); every question to the
user goes through the injected prompter."""

import gc
from functools import partial
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QTabWidget

from desktop import auditing
from desktop.app import InboxSettings, Services
from desktop.core.files import private_file, private_folder
from desktop.nodes import identity_users
from desktop.ui.actions import tipped_action
from desktop.ui.controller import TransferController
from desktop.ui.deid_controller import DeidController
from desktop.ui.errors import ErrorReporter
from desktop.ui.export_controller import ExportController
from desktop.ui.icons import icon
from desktop.ui.inbox_controller import InboxController
from desktop.ui.media_controller import MediaController
from desktop.ui.node_checks import NodeChecks
from desktop.ui.nodes_controller import NodesController
from desktop.ui.prompter import Prompter
from desktop.ui.query_controller import QueryController
from desktop.ui.reid_controller import ReidController
from desktop.ui.seal_controller import SealController
from desktop.ui.sealed_controller import SealedController
from desktop.ui.send_controller import SendController
from desktop.ui.shell import Shell
from desktop.ui.signatures import SignatureController
from desktop.ui.widgets.audit import AuditPanel
from desktop.ui.widgets.certificates import CertificatesPanel
from desktop.ui.widgets.dialogs import fit
from desktop.ui.widgets.log import LogPanel
from desktop.ui.widgets.nodes import NodesPanel
from desktop.ui.widgets.query import QueryPanel
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.transfers import TransfersPanel
from desktop.ui.widgets.viewer import ViewerPanel


class MainWindow(QMainWindow):
    def __init__(
        self,
        services: Services,
        inbox: InboxSettings | None = None,
        *,
        prompter: Prompter | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.ask_before_quit = True  # False: closed by a signal, nobody there to answer
        self.prompter = prompter or Prompter(self)
        self.reporter = ErrorReporter()
        # made 0600 before Qt writes it (its rewrites keep the mode): it holds the recent
        # media's folders, often named after the patient; the window's child, so what is left to
        # write is written when the window is deleted, and nothing after
        ini = private_file(private_folder(services.home) / "gui.ini")
        self.settings = QSettings(str(ini), QSettings.Format.IniFormat, self)
        self.setWindowTitle("DICOM Courier")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.sources = SourcesPanel(services.inbox, services.store)
        self.browser = self.sources.media
        self.nodes = NodesPanel()
        self.viewer = ViewerPanel()
        self.transfers = TransfersPanel()
        self.log = LogPanel()
        self.certificates = CertificatesPanel(
            services.keystore, self.prompter, users=partial(identity_users, services.home)
        )
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
        self._compose(inbox)
        self._menus()
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.restoreState(self.settings.value("state"))
            self.splitter.restoreState(self.settings.value("splitter"))
        else:
            fit(self, QSize(1400, 860))  # smaller on a small screen
        self.statusBar().showMessage("Ready")

    def _compose(self, inbox: InboxSettings | None) -> None:
        """The panels' controllers, sharing the services, prompter, status line and log."""
        services = self.services
        self.shell = shell = Shell(
            self,
            services,
            self.settings,
            self.prompter,
            self.statusBar().showMessage,
            self.log,
            self.reporter,
        )
        self.reporter.reported.connect(shell.show_error)
        self.controller = TransferController(services)
        self.checks = NodeChecks(self.settings, services.history)
        self.opening = MediaController(shell, self.sources, self.viewer)
        self.exports = ExportController(
            self, self.settings, self.viewer, self.prompter, shell.status, shell.report
        )
        self.viewer.export_png_requested.connect(self.exports.export_png)
        self.viewer.export_mp4_requested.connect(self.exports.export_mp4)
        self.signatures = SignatureController(
            self,
            services.keystore,
            self.sources.browsers(),
            self.sources.current_browser,
            self.prompter,
            shell.status,
            shell.report,
        )
        self.deidentifying = DeidController(shell, self.sources, self.opening.open_path)
        self.unsealing = SealedController(shell, self.sources, self.opening.open_path)
        self.reidentifying = ReidController(shell, self.sources, self.opening.open_path)
        self.sealing = SealController(shell, self.sources)
        self.node_actions = NodesController(shell, self.nodes, self.checks)
        self.node_actions.listed.connect(self.query.set_nodes)
        for browser in self.sources.browsers():
            browser.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.sending = SendController(
            shell,
            self.transfers,
            self.controller,
            sources=self.sources,
            nodes=self.node_actions,
            checks=self.checks,
            show_panel=lambda: self.tabs.setCurrentWidget(self.transfers),
            menu_actions=[
                self.deidentifying.action,
                self.reidentifying.action,
                self.sealing.action,
                self.signatures.verify_action,
                self.signatures.details_action,
            ],
        )
        self.querying = QueryController(shell, self.query, lambda: self.listening.inbox)
        self.certificates.error.connect(shell.show_error)
        self.certificates.changed.connect(services.forget_connections)
        self.node_actions.refresh_nodes()
        self.listening = InboxController(shell, self.sources, inbox)
        self.listening.commitment_reported.connect(self.sending.commitment_reported)

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        opening = self.opening
        for text, shortcut, handler, tip in (
            (
                "&Open folder or CD…",
                QKeySequence.StandardKey.Open,
                opening.open_folder,
                "Open a folder, a CD or a USB stick",
            ),
            ("Open &DICOMDIR…", "Ctrl+Shift+O", opening.open_dicomdir, "Open a DICOMDIR file"),
            (
                "Show &Inbox",
                "Ctrl+I",
                opening.open_inbox,
                "Show what our listener received, beside the media",
            ),
            (
                "I&mport into Inbox…",
                "Ctrl+Shift+I",
                opening.import_into_inbox,
                "Copy a folder, CD or USB stick into the Inbox (the local store)",
            ),
        ):
            action = tipped_action(self, text, tip, handler, shortcut=shortcut)
            file_menu.addAction(action)
            toolbar.addAction(action)
        file_menu.addMenu(opening.recent_menu)
        file_menu.addAction(self.unsealing.action)
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
            action = tipped_action(self, text, tip, export, shortcut=shortcut)
            file_menu.addAction(action)
            toolbar.addAction(action)
        file_menu.addAction("Export to &CD/USB…", opening.export_to_media)
        file_menu.addSeparator()
        file_menu.addActions(
            [self.deidentifying.action, self.reidentifying.action, self.sealing.action]
        )
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        signatures_menu = self.menuBar().addMenu("Si&gnatures")
        signatures_menu.addActions([self.signatures.verify_action, self.signatures.details_action])
        settings_menu = self.menuBar().addMenu("&Settings")
        settings_menu.addAction(
            tipped_action(
                self,
                "&Inbox listener…",
                "Our storage SCP: AE title, port, TLS identity",
                self.listening.edit_inbox,
                shortcut="Ctrl+L",
            )
        )
        settings_menu.addAction(
            tipped_action(
                self,
                "Listener &access…",
                "Which calling AE titles (and client certificates) may store, query, retrieve",
                self.listening.edit_access,
                shortcut="Ctrl+Shift+L",
            )
        )
        settings_menu.addAction(self.unsealing.require_signed_action)

    def showEvent(self, event: QShowEvent) -> None:
        """Once shown, what start-up made (modules, Qt wrappers: most of the heap, for the
        whole session) leaves the collector's full passes (``gc.freeze``): walking it took
        0.1-0.25 s holding the GIL, on whichever thread allocated, in the middle of a send."""
        super().showEvent(event)
        if not gc.get_freeze_count():
            gc.freeze()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls: list[QUrl] = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.opening.open_path(Path(urls[0].toLocalFile()))

    def closeEvent(self, event: QCloseEvent) -> None:
        # a signal while the question is open closes it, and says not to ask (quit_on_signals)
        if self.ask_before_quit and not self.sending.may_quit() and self.ask_before_quit:
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.sync()
        self.stop_threads()
        event.accept()

    def stop_threads(self) -> None:
        """End what runs beside the window: the viewer's decoding, the Inbox listener, the
        Inbox's index (closing does this; each step may be repeated)."""
        self.viewer.close_threads()
        self.services.stop_inbox()
        self.services.store.close()


def application() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    created = QApplication([])
    created.setApplicationName("DICOM Courier")
    created.setOrganizationName("DICOM Courier")
    return created
