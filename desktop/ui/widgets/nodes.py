"""Nodes: the configured PACS, a drop target for studies, with echo and TLS checks."""

from collections.abc import Callable, Mapping
from dataclasses import replace

from PySide6.QtCore import QSize, Qt, Signal, SignalInstance
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.config import COMPRESSIONS, PROFILES, ConfigError, Node
from desktop.core.deid.table import Option
from desktop.net.compression import in_words, is_lossy
from desktop.ui.errors import gui_words
from desktop.ui.icons import icon
from desktop.ui.models.media_model import MIME_TYPE, decode_instances
from desktop.ui.node_checks import Check
from desktop.ui.widgets.dialogs import fit, ok_cancel, problem_label, refuse, scrolling
from desktop.ui.widgets.narrow import FlowLayout
from desktop.ui.widgets.send_pixels import send_pixels_box

NAME_ROLE = Qt.ItemDataRole.UserRole + 1


class NodeList(QListWidget):
    """The node list; dropping instances on a node asks to send them there."""

    dropped = Signal(str, list)  # node name, the dropped instances' StoreItems

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setIconSize(QSize(28, 28))

    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(MIME_TYPE):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if event.mimeData().hasFormat(MIME_TYPE) and item is not None:
            self.setCurrentItem(item)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if item is None or not event.mimeData().hasFormat(MIME_TYPE):
            event.ignore()
            return
        items = decode_instances(bytes(event.mimeData().data(MIME_TYPE).data()))
        event.acceptProposedAction()
        self.dropped.emit(item.data(NAME_ROLE), items)


class NodeDialog(QDialog):
    """Add or edit a node: AE titles, host, port, TLS profile, identity, hostname check."""

    def __init__(
        self,
        identities: list[str],
        node: Node | None = None,
        parent: QWidget | None = None,
        *,
        save: Callable[[Node], object] = Node.validated,
    ) -> None:
        super().__init__(parent)
        self.save = save
        self.problem = problem_label()
        self.setWindowTitle("Edit node" if node else "Add node")
        node = node or Node("", "", "", 104)
        self.name = QLineEdit(node.name)
        self.ae_title = QLineEdit(node.ae_title)
        self.host = QLineEdit(node.host)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(node.port)
        self.tls = QCheckBox("Use TLS (mutual certificates)")
        self.tls.setChecked(node.tls)
        self.profile = QComboBox()
        self.profile.addItems(list(PROFILES))
        self.profile.setCurrentText(node.profile)
        self.identity = QComboBox()
        self.identity.addItems(["", *identities])
        self.identity.setCurrentText(node.identity)
        self.calling = QLineEdit(node.calling_ae_title)
        self.server_name = QLineEdit(node.server_name)
        self.server_name.setPlaceholderText("the host name")
        self.hostname_check = QCheckBox("Check the server's name against its certificate")
        self.hostname_check.setChecked(node.check_hostname)
        self.parallel = QSpinBox()
        self.parallel.setRange(1, 16)
        self.parallel.setValue(node.max_associations)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setValue(node.connect_timeout)
        self.compress = QComboBox()
        self.compress.addItems(list(COMPRESSIONS))
        self.compress.setCurrentText(node.compress)
        self.compress.setToolTip(
            "Compress uncompressed images for the wire, where the peer accepts it (auto: the "
            "best lossless codec it accepts, and none when the link is faster); "
            "jpeg-ls-near-lossless and j2k-lossy lose detail"
        )
        self.lossy = problem_label()  # the warning a lossy choice shows
        self.compress.currentTextChanged.connect(self._compress_changed)
        self._compress_changed(node.compress)
        self.commit = QCheckBox("Ask for storage commitment after sending")
        self.commit.setChecked(node.commit)
        self.commit_wait = QDoubleSpinBox()
        self.commit_wait.setRange(0, 86400)
        self.commit_wait.setValue(node.commit_wait)
        self.commit_wait.setToolTip(
            "How long a send waits for the commitment report; a later one reaches the listener"
        )
        self.original = node
        self.deid = QCheckBox("De-identify before sending (the node gets de-identified copies)")
        self.deid.setChecked(node.deid)
        self.deid_options = {}
        self.options = QWidget()
        options = QGridLayout(self.options)
        options.setContentsMargins(0, 0, 0, 0)
        for number, option in enumerate(Option):
            box = self.deid_options[option.cli_name] = QCheckBox(option.cli_name)
            box.setChecked(option.cli_name in node.deid_options)
            options.addWidget(box, number // 2, number % 2)
        self.deid_recipient = QLineEdit(node.deid_recipient)
        self.deid_recipient.setPlaceholderText("certificate file: keeps the originals for it")
        self.deid_pixels = send_pixels_box(node.deid_pixels)
        self.tls.toggled.connect(self._tls_toggled)
        self._tls_toggled(node.tls)
        form = self.form = QFormLayout()
        for label, widget in (
            ("Name", self.name),
            ("Called AE title", self.ae_title),
            ("Host", self.host),
            ("Port", self.port),
            ("", self.tls),
            ("TLS profile", self.profile),
            ("Identity", self.identity),
            ("Our AE title", self.calling),
            ("Server name", self.server_name),
            ("", self.hostname_check),
            ("Parallel associations", self.parallel),
            ("Connect timeout (s)", self.timeout),
            ("Compress for the wire", self.compress),
            ("", self.lossy),
            ("", self.commit),
            ("Commitment report wait (s)", self.commit_wait),
            ("", self.deid),
        ):
            form.addRow(label, widget)
        form.addRow("Profile options", self.options)
        form.addRow("Re-identifiable by", self.deid_recipient)
        form.addRow("Burned-in text", self.deid_pixels)
        fields = QWidget()
        fields.setLayout(form)
        buttons = ok_cancel(self)
        layout = QVBoxLayout(self)
        self.fields = scrolling(fields)
        layout.addWidget(self.fields, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.deid.toggled.connect(self._deid_toggled)
        self._deid_toggled(node.deid)

    def accept(self) -> None:
        """Save, or say what is wrong beside the field at fault and keep what was typed."""
        for widget in self._fields().values():
            widget.setStyleSheet("")
        try:
            self.save(self.node())
        except ConfigError as error:
            refuse(self.problem, self._fields().get(error.field), gui_words(str(error)))
            return
        super().accept()

    def _fields(self) -> dict[str, QWidget]:
        return {
            "name": self.name,
            "ae_title": self.ae_title,
            "host": self.host,
            "port": self.port,
            "identity": self.identity,
            "calling_ae_title": self.calling,
            "deid": self.deid,
            "deid_recipient": self.deid_recipient,
            "deid_pixels": self.deid_pixels,
            "compress": self.compress,
        }

    def _compress_changed(self, mode: str) -> None:
        lossy = is_lossy(mode)
        self.lossy.setText(f"Warning: LOSSY — {in_words(mode)}." if lossy else "")
        self.lossy.setVisible(lossy)

    def _tls_toggled(self, on: bool) -> None:
        """Profile, identity and server name mean something over TLS only."""
        for widget in (self.profile, self.identity, self.server_name, self.hostname_check):
            widget.setEnabled(on)

    def _deid_toggled(self, on: bool) -> None:
        """The de-identification settings, shown (and usable) only for a node that
        de-identifies: the dialog stays short for the others."""
        for widget in (self.options, self.deid_recipient, self.deid_pixels):
            widget.setEnabled(on)
            self.form.setRowVisible(widget, on)
        self.fields.updateGeometry()
        fit(self)

    def node(self) -> Node:
        """The node as entered (validate with Node.validated); settings the dialog does not
        show (signing, the network timeout) stay as they were."""
        deid = self.deid.isChecked()
        return replace(
            self.original,
            name=self.name.text().strip(),
            ae_title=self.ae_title.text().strip(),
            host=self.host.text().strip(),
            port=self.port.value(),
            tls=self.tls.isChecked(),
            profile=self.profile.currentText(),
            identity=self.identity.currentText() if self.tls.isChecked() else "",
            calling_ae_title=self.calling.text().strip() or "COURIER",
            server_name=self.server_name.text().strip(),
            check_hostname=self.hostname_check.isChecked(),
            connect_timeout=self.timeout.value(),
            max_associations=self.parallel.value(),
            commit=self.commit.isChecked(),
            commit_wait=self.commit_wait.value(),
            deid=deid,
            deid_options=tuple(n for n, b in self.deid_options.items() if deid and b.isChecked()),
            deid_recipient=self.deid_recipient.text().strip() if deid else "",
            deid_pixels=self.deid_pixels.currentData() if deid else "off",
            compress=self.compress.currentText(),
        )


class NodesPanel(QWidget):
    """The node list with its buttons; the main window does the work they ask for."""

    send_requested = Signal(str, list)
    add_requested = Signal()
    edit_requested = Signal(str)
    remove_requested = Signal(str)
    echo_requested = Signal(str)
    check_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = NodeList()
        self.list.dropped.connect(self.send_requested)
        self.list.setToolTip("Drag a patient, study, series or images here to send them")
        buttons = FlowLayout()  # wraps on a narrow window
        for text, tip, handler in (
            ("Add…", "Add a node", self.add_requested.emit),
            ("Edit…", "Edit the selected node", lambda: self._with_node(self.edit_requested)),
            ("Remove", "Remove the selected node", lambda: self._with_node(self.remove_requested)),
            ("Echo", "C-ECHO the selected node", lambda: self._with_node(self.echo_requested)),
            (
                "Check TLS",
                "Handshake only: show the transcript or what is wrong",
                lambda: self._with_node(self.check_requested),
            ),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(handler)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)

    def _with_node(self, signal: SignalInstance) -> None:
        item = self.list.currentItem()
        if item is not None:
            signal.emit(item.data(NAME_ROLE))

    def show_nodes(self, nodes: list[Node], checks: Mapping[str, Check | None]) -> None:
        """The nodes; a TLS node's lock is green only when its last check succeeded."""
        current = self.list.currentItem()
        selected = current.data(NAME_ROLE) if current else None
        self.list.clear()
        for node in nodes:
            check = checks.get(node.name)
            last = check.describe(tls=node.tls) if check else "not verified yet"
            security = f"TLS {node.profile}" if node.tls else "plain, unencrypted"
            symbol = (
                ("lock" if check and check.ok else "lock-unverified") if node.tls else "lock-open"
            )
            item = QListWidgetItem(
                icon(symbol),
                f"{node.name}\n{node.ae_title}@{node.host}:{node.port} · {security} · {last}",
            )
            item.setData(NAME_ROLE, node.name)
            item.setToolTip(f"Drop studies here to send them to {node.name}")
            self.list.addItem(item)
            if node.name == selected:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)

    def item_for(self, name: str) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(NAME_ROLE) == name:
                return item
        return None
