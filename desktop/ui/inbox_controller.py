"""Settings ▸ Inbox listener: our storage SCP (re)started with the settings typed; what it
receives goes to the Inbox tab and its handshakes to the Log. Settings ▸ Listener access: who
may use it, saved where ``dicom-courier access`` saves it; a running listener applies an edit
from the next association."""

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.app import InboxSettings
from desktop.core.config import load_config
from desktop.core.errors import CourierError
from desktop.core.words import counted
from desktop.ui.shell import Shell
from desktop.ui.widgets.access_list import AccessDialog
from desktop.ui.widgets.inbox_settings import InboxDialog, load_inbox, save_inbox
from desktop.ui.widgets.sources import SourcesPanel


class InboxController(QObject):
    inbox_event = Signal(object)
    commitment_reported = Signal(str)  # the transaction UID of one of our jobs

    def __init__(
        self, shell: Shell, sources: SourcesPanel, inbox: InboxSettings | None = None
    ) -> None:
        super().__init__(shell.window)
        self.shell, self.sources = shell, sources
        self.services, self.log = shell.services, shell.log
        self.inbox_event.connect(self._inbox_event)
        self.inbox = inbox or load_inbox(shell.settings)
        if self.inbox is not None:
            self.apply_inbox(self.inbox, save=False)

    def edit_inbox(self) -> None:
        from desktop.security.policy import serving_refusal

        identities = {i.name: i for i in self.services.keystore.identities()}

        def refuse(name: str) -> str:
            if name not in identities:  # a saved identity removed since
                return f"no identity named {name!r} in the keystore"
            return serving_refusal(name, identities[name].certificate)

        dialog = InboxDialog(list(identities), self.inbox, self.shell.window, refuse=refuse)
        if self.shell.prompter.run(dialog):
            self.apply_inbox(dialog.inbox())

    def edit_access(self) -> None:
        """The access list in its editor; saved when accepted (a running listener applies it
        from its next association)."""
        from desktop.access_control import certificate_fingerprint, replace_all

        home = self.services.home
        try:
            entries = load_config(home).listener_access
        except CourierError as error:
            self.shell.show_error("Listener access", str(error))
            return
        dialog = AccessDialog(
            entries, self.shell.prompter, certificate_fingerprint, self.shell.window
        )
        if not self.shell.prompter.run(dialog):
            return
        if dialog.entries() == entries:  # OK without a change writes nothing
            self.shell.status("Listener access unchanged")
            return
        try:  # refused if another program changed the list meanwhile: never undone unseen
            saved = replace_all(home, dialog.entries(), was=entries)
        except CourierError as error:
            self.shell.show_error("Listener access", str(error))
            return
        who = counted(len(saved), "allowed caller entry", "allowed caller entries")
        when = "from its next association" if self.services.listener else "when it starts"
        self.shell.status(
            f"Listener access saved ({who if saved else 'anyone may connect'}); the listener "
            f"applies it {when}"
        )

    def apply_inbox(self, inbox: InboxSettings | None, save: bool = True) -> bool:
        """(Re)start our listener with ``inbox`` (None stops it); say so if it cannot start."""
        self.services.stop_inbox()
        self.inbox = inbox
        if save:
            save_inbox(self.shell.settings, inbox)
        self.sources.show_listener("", None)
        if inbox is None:
            self.shell.status("Inbox listener stopped")
            return True
        try:
            listener = self.services.start_inbox(inbox, self._inbox_record)
        except CourierError as error:
            self.inbox = None
            self.shell.show_error("Inbox listener", str(error))
            return False
        security = f"TLS, identity {inbox.identity}" if inbox.identity else "plain"
        self.sources.show_listener(inbox.ae_title, listener.port, security)
        self.shell.status(
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
            self.shell.status(f"Inbox received {Path(record['path']).name}")
            self.sources.received()
        elif record["event"] == "commitment-report":
            self.commitment_reported.emit(record["transaction"])
        elif record.get("warning"):
            self.log.add("warning", "Inbox", record["warning"])
        elif record.get("failure"):  # a retrieve refused (a UID of two patients)
            self.log.add("warning", "Inbox", record["failure"])
        else:
            self.log.add("warning", "Inbox", f"{record['event']}: {record}")
