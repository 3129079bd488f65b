"""Transfers: the durable queue's jobs with progress, rate, failures, Retry and Cancel."""

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.net.queue import JobSummary
from desktop.ui.store_warnings import StoreWarnings

COLUMNS = ("Job", "Node", "What", "State", "Progress", "Size", "Rate", "Failures", "Reason")
STATE, PROGRESS, REASON = 3, 4, 8
REASON_WIDTH = 240  # never squeezed below this by the others: the table scrolls instead
SETTLED = ("done", "committed")  # nothing left to say why
FAILED_COLOUR, NORMAL = QBrush(QColor("#c0392b")), QBrush()
WARNED_COLOUR = QBrush(QColor("#d68910"))  # stored, but the peer coerced or discarded data


def state_words(job: JobSummary, *, retry_at: float | None = None) -> str:
    """A job's state in words: when it retries, while it waits for that; with its storage
    commitment, until committed."""
    if retry_at is not None and job.pending:
        return f"waiting to retry at {time.strftime('%H:%M:%S', time.localtime(retry_at))}"
    if job.commitment() and job.state != "committed":
        return f"{job.state} ({job.commitment()})"
    return job.state


class TransfersPanel(QWidget):
    retry_requested = Signal(int)
    retry_failed_requested = Signal()  # Retry failed with no job selected: every failed job
    cancel_requested = Signal(int)
    unselected = Signal(str)  # a button that needs a job was clicked with none selected

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(2, 170)
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(REASON, REASON_WIDTH)
        header.setSectionResizeMode(STATE, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(STATE, 150)  # "waiting to retry at 22:06:54" wraps
        header.setSectionResizeMode(PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(PROGRESS, 130)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)  # a long reason wraps in its row, which grows to hold it
        header.sectionResized.connect(self._reason_resized)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.cellDoubleClicked.connect(self._show_failures)
        retry, cancel = QPushButton("Retry failed"), QPushButton("Cancel")
        retry.setToolTip(
            "Send the selected job's failed images again; none selected: every failed job's"
        )
        retry.clicked.connect(self._retry)
        cancel.setToolTip("Stop the selected job: what was sent is kept, the rest is not sent")
        cancel.clicked.connect(self._cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(retry)
        buttons.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.rows: dict[int, int] = {}
        self.started: dict[int, tuple[float, int]] = {}
        self.failures: dict[int, list[str]] = {}
        self.reasons: dict[int, str] = {}  # the last reason said, until the job is settled
        self.warned: dict[int, StoreWarnings] = {}  # what the peer said of what it stored

    def _selected(self) -> int | None:
        """The selected job (none when no row is selected)."""
        rows = self.table.selectionModel().selectedRows()
        return self._job_at(rows[0].row()) if rows else None

    def _retry(self) -> None:
        job_id = self._selected()
        if job_id is None:
            self.retry_failed_requested.emit()
        else:
            self.retry_requested.emit(job_id)

    def _cancel(self) -> None:
        job_id = self._selected()
        if job_id is None:
            self.unselected.emit("Select the job to cancel in the Transfers list, then Cancel")
        else:
            self.cancel_requested.emit(job_id)

    def _job_at(self, row: int) -> int | None:
        item = self.table.item(row, 0) if row >= 0 else None
        return int(item.text()) if item is not None else None

    def show_job(
        self,
        job: JobSummary,
        failures: list[str] | None = None,
        *,
        reason: str = "",
        retry_at: float | None = None,
        state: str = "",
        warnings: StoreWarnings | None = None,
    ) -> None:
        """Add or update a job's row: its state in words (waiting to retry at …, failed, node
        gone, done with N stored with a warning ...) and the reason in plain words (the
        peer's warnings too), also as the row's tooltip."""
        row = self._row(job)
        if failures is not None:
            self.failures[job.id] = failures
        if warnings is not None:
            self.warned[job.id] = warnings
        if reason:  # a progress update says none: the last one said stands until settled
            self.reasons[job.id] = reason
        settled = job.state in SETTLED
        failure = "" if settled else self.reasons.get(job.id, "")
        warned = self.warned.get(job.id)
        reason = "; ".join(filter(None, (failure, warned.said if warned else "")))
        progress = self.table.cellWidget(row, PROGRESS)
        assert isinstance(progress, QProgressBar)
        progress.setRange(0, max(job.total, 1))
        progress.setValue(job.sent)  # a failed instance is not progress
        began, bytes_before = self.started[job.id]
        elapsed = max(time.monotonic() - began, 1e-3)
        rate = (job.bytes_sent - bytes_before) / elapsed / 2**20
        state = state or state_words(job, retry_at=retry_at)
        if warned is not None and not job.pending:
            state = f"{state}, {warned.count} with a warning"
        cells = (
            str(job.id),
            job.node,
            job.description,
            state,
            "",
            f"{job.bytes_sent / 2**20:.1f} / {job.bytes_total / 2**20:.1f} MB",
            f"{rate:.1f} MB/s" if job.state == "pending" else "",
            str(job.failed) if job.failed else "",
            reason,
        )
        wrapped = False
        for column, text in enumerate(cells):
            if column == PROGRESS:
                continue
            item = self.table.item(row, column)
            if item is None:
                self.table.setItem(row, column, QTableWidgetItem(text))
                wrapped = True
            elif item.text() != text:
                item.setText(text)
                wrapped = wrapped or column in (STATE, REASON)
            if column in (STATE, REASON):
                cell = self.table.item(row, column)
                if cell is not None:
                    cell.setToolTip(reason)
                    cell.setForeground(
                        FAILED_COLOUR if failure else WARNED_COLOUR if warned else NORMAL
                    )
        if wrapped:  # the height the reason needs, measured only when its text changed
            self.table.resizeRowToContents(row)

    def _row(self, job: JobSummary) -> int:
        """The job's row, added (with its progress bar) the first time the job is shown."""
        row = self.rows.get(job.id)
        if row is None:
            row = self.rows[job.id] = self.table.rowCount()
            self.table.insertRow(row)
            bar = QProgressBar()
            bar.setFormat("%v / %m sent")
            self.table.setCellWidget(row, PROGRESS, bar)
            self.started[job.id] = (time.monotonic(), job.bytes_sent)
        return row

    def _reason_resized(self, column: int, _: int, __: int) -> None:
        """The reason column got narrower or wider: each row's wrapped reason needs another
        height. Another column changed: the reason takes the room left."""
        if column == REASON:  # after the header's own layout pass, which this is inside
            QTimer.singleShot(0, self.table, self.table.resizeRowsToContents)
        else:
            QTimer.singleShot(0, self.table, self._fit_reason)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_reason()

    def _fit_reason(self) -> None:
        """The reason column fills the width the other columns leave, and is never narrower
        than REASON_WIDTH."""
        header = self.table.horizontalHeader()
        others = sum(header.sectionSize(c) for c in range(len(COLUMNS)) if c != REASON)
        room = self.table.viewport().width() - others
        header.resizeSection(REASON, max(REASON_WIDTH, room))

    def progress_of(self, job_id: int) -> tuple[int, int]:
        bar = self.table.cellWidget(self.rows[job_id], PROGRESS)
        assert isinstance(bar, QProgressBar)
        return bar.value(), bar.maximum()

    def _show_failures(self, row: int, _: int) -> None:
        """The job's instances not sent, and those the peer stored with a warning."""
        job_id = self._job_at(row)
        if job_id is None:
            return
        failures = self.failures.get(job_id) or []
        warned = self.warned.get(job_id)
        if failures or warned:
            said = [f"{len(failures)} instance(s) were not sent."] if failures else []
            said += [f"{warned.count} were stored with a warning from the peer."] if warned else []
            box = QMessageBox(
                QMessageBox.Icon.Warning, f"Job {job_id}: failures", " ".join(said), parent=self
            )
            box.setDetailedText("\n".join([*failures, *(warned.lines if warned else ())]))
            box.open()
