"""The audit trail of one user: every message stored in the local log, and spooled for the
audit repository when forwarding is configured."""

from collections.abc import Callable, Sequence
from pathlib import Path

from desktop.core.audit.events import Local
from desktop.core.audit.forward import SETTINGS_NAME, ForwardSettings, Spool
from desktop.core.audit.message import AuditMessage
from desktop.core.audit.store import AuditLog, Entry
from desktop.core.audit.syslog import syslog_message


class AuditTrail:
    """``home/audit``: the log, the spool and the forwarding settings."""

    def __init__(self, home: Path, local: Local) -> None:
        self.folder = home / "audit"
        self.local = local
        self.log = AuditLog(self.folder)
        self.spool = Spool(self.folder / "spool")
        self.settings_path = self.folder / SETTINGS_NAME
        self.on_spooled: Callable[[], None] | None = None  # e.g. wakes a background forwarder

    def forwarding(self) -> ForwardSettings | None:
        return ForwardSettings.load(self.settings_path)

    def record(self, message: AuditMessage, *, node: str = "") -> Entry:
        """Store ``message``; spool it too when it is to be forwarded."""
        [entry] = self.record_all([(message, node)])
        return entry

    def record_all(self, messages: Sequence[tuple[AuditMessage, str]]) -> list[Entry]:
        """Store each message (with its node) in order; spool them when they are forwarded."""
        entries = self.log.append_all(messages)
        if entries and self.settings_path.exists():
            for entry, (message, _) in zip(entries, messages, strict=True):
                self.spool.put(
                    entry.seq,
                    syslog_message(
                        entry.xml,
                        time=message.time,
                        host=self.local.host,
                        pid=self.local.pid,
                        sequence=entry.seq,
                    ),
                )
            if self.on_spooled is not None:
                self.on_spooled()
        return entries
