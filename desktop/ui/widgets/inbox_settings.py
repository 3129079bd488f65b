"""The Inbox listener's settings: our AE title, port, identity (TLS) and whether it starts."""

from collections.abc import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.app import InboxSettings
from desktop.core.config import PROFILES
from desktop.ui.widgets.dialogs import INVALID, ok_cancel, problem_label


def load_inbox(settings: QSettings) -> InboxSettings | None:
    """The saved Inbox listener, or None when it is not to start."""
    if str(settings.value("inbox/enabled", "false")).lower() != "true":
        return None
    return InboxSettings(
        str(settings.value("inbox/ae", "COURIER")),
        int(settings.value("inbox/port", 11113)),  # type: ignore[call-overload]
        str(settings.value("inbox/identity", "")),
        str(settings.value("inbox/profile", "bcp195-nd")),
    )


def save_inbox(settings: QSettings, inbox: InboxSettings | None) -> None:
    settings.setValue("inbox/enabled", "true" if inbox else "false")
    if inbox is not None:
        for key, value in (
            ("ae", inbox.ae_title),
            ("port", inbox.port),
            ("identity", inbox.identity),
            ("profile", inbox.profile),
        ):
            settings.setValue(f"inbox/{key}", value)
    settings.sync()


class InboxDialog(QDialog):
    """``refuse`` says why an identity cannot serve TLS ('' when it can): the dialog stays
    open, saying so beside the field, rather than saving a listener no peer could reach."""

    def __init__(
        self,
        identities: list[str],
        current: InboxSettings | None,
        parent: QWidget | None = None,
        *,
        refuse: Callable[[str], str] = lambda identity: "",
    ) -> None:
        super().__init__(parent)
        self.refuse = refuse
        self.setWindowTitle("Inbox listener")
        running = current is not None  # ticked only when the listener runs
        current = current or InboxSettings("COURIER", 11113)
        self.enabled = QCheckBox("Run our storage SCP (C-MOVE destination, incoming sends)")
        self.enabled.setChecked(running)
        self.ae_title = QLineEdit(current.ae_title)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(current.port)
        self.identity = QComboBox()
        self.identity.addItems(["", *identities])
        self.identity.setCurrentText(current.identity)
        self.identity.setToolTip(
            "Empty: plain DICOM. An identity: TLS, clients must present "
            "certificates from a trusted CA"
        )
        self.profile = QComboBox()
        self.profile.addItems(list(PROFILES))
        self.profile.setCurrentText(current.profile)
        form = QFormLayout()
        for label, widget in (
            ("", self.enabled),
            ("Our AE title", self.ae_title),
            ("Port", self.port),
            ("TLS identity", self.identity),
            ("TLS profile", self.profile),
        ):
            form.addRow(label, widget)
        buttons = ok_cancel(self)
        access = QLabel("Who may store, query and retrieve here: Settings ▸ Listener access…")
        access.setWordWrap(True)
        self.problem = problem_label()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(access)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def accept(self) -> None:
        identity = self.identity.currentText()
        refused = self.refuse(identity) if self.enabled.isChecked() and identity else ""
        self.identity.setStyleSheet(INVALID if refused else "")
        self.problem.setText(refused)
        self.problem.setVisible(bool(refused))
        if refused:
            self.adjustSize()  # room for the words, the fields kept at their height
        else:
            super().accept()

    def inbox(self) -> InboxSettings | None:
        if not self.enabled.isChecked():
            return None
        return InboxSettings(
            self.ae_title.text().strip() or "COURIER",
            self.port.value(),
            self.identity.currentText(),
            self.profile.currentText(),
        )
