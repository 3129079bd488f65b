"""The audit trail as a Qt table model, and the proxy that filters it by event, node, outcome
and time (the Picard shape: a bounded source model behind a filter proxy)."""

import datetime as dt
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

from desktop.core.audit.events import EVENTS, SECURITY_ALERT
from desktop.core.audit.message import Outcome
from desktop.core.audit.store import Entry

Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("#", "Time", "Event", "Outcome", "Node", "What")
OUTCOMES = {outcome.value: outcome.words for outcome in Outcome}
ALERT_BACKGROUND = QColor("#f8d7da")
FAILURE_FOREGROUND = QColor("#c0392b")
ENTRY_ROLE = Qt.ItemDataRole.UserRole


class AuditModel(QAbstractTableModel):
    """Audit records, oldest first."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []

    def set_entries(self, entries: list[Entry]) -> None:
        self.beginResetModel()
        self.entries = entries
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        entry = self.entries[index.row()]
        if role == ENTRY_ROLE:
            return entry
        if role == Qt.ItemDataRole.DisplayRole:
            return _cells(entry)[index.column()]
        if role == Qt.ItemDataRole.BackgroundRole and entry.event == SECURITY_ALERT.code:
            return ALERT_BACKGROUND
        if role == Qt.ItemDataRole.ForegroundRole and entry.outcome:
            return FAILURE_FOREGROUND
        return None


def _cells(entry: Entry) -> tuple[str, ...]:
    event = EVENTS.get(entry.event)
    return (
        str(entry.seq),
        f"{entry.when.astimezone():%Y-%m-%d %H:%M:%S}",
        f"{entry.event} {event.meaning if event else ''}".strip(),
        OUTCOMES.get(entry.outcome, str(entry.outcome)),
        entry.node,
        entry.summary,
    )


class AuditFilter(QSortFilterProxyModel):
    """Rows matching an event code, a node, an outcome and a time window (None: any)."""

    def __init__(self) -> None:
        super().__init__()
        self.event_code: str | None = None
        self.hidden_event: str | None = None  # an event left out (application start/stop)
        self.node_name: str | None = None
        self.outcome: int | None = None
        self.since: dt.datetime | None = None

    def set_filters(
        self,
        *,
        event: str | None = None,
        hide_event: str | None = None,
        node: str | None = None,
        outcome: int | None = None,
        since: dt.datetime | None = None,
    ) -> None:
        """Show only the entries that pass every filter given (None: no filter)."""
        self.beginFilterChange()
        self.event_code, self.hidden_event, self.node_name = event, hide_event, node
        self.outcome, self.since = outcome, since
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        model = self.sourceModel()
        entry: Entry = model.data(model.index(row, 0, parent), ENTRY_ROLE)
        return (
            (self.event_code is None or entry.event == self.event_code)
            and entry.event != self.hidden_event
            and (self.node_name is None or entry.node == self.node_name)
            and (self.outcome is None or entry.outcome == self.outcome)
            and (self.since is None or entry.when >= self.since)
        )
