"""Sending and the Transfers panel: a drop on a node or the browser's "Send to" menu, confirmed
through the prompter, queued on the TransferController; each job's progress, failure reason,
retry and cancel shown in its row, and the associations in the Log. The panel opens on the
durable queue: jobs of earlier sessions and of the command line that failed, were cancelled or
finished recently are listed with their reasons, so Retry reaches them; and it follows the
queue: a job another process (the command line, cron) queues, sends, fails or renames the
node of is shown as it goes."""

from collections.abc import Callable
from contextlib import suppress

from PySide6.QtCore import QObject, QPoint, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from desktop.core.config import ConfigError
from desktop.core.deid.setting import Deidentification
from desktop.core.errors import CourierError
from desktop.net.compression import in_words
from desktop.net.queue import JobSummary, QueueError, TransferQueue
from desktop.net.store import SessionEvent, StoreItem
from desktop.ui.actions import menu_text
from desktop.ui.controller import HeldBackError, JobUpdate, TransferController, failures_and_reason
from desktop.ui.errors import describe
from desktop.ui.models.media_model import store_items
from desktop.ui.node_checks import NodeChecks
from desktop.ui.nodes_controller import NodesController
from desktop.ui.shell import Shell
from desktop.ui.store_warnings import StoreWarnings, store_warnings
from desktop.ui.widgets.send_confirmation import SendConfirmation
from desktop.ui.widgets.sources import SourcesPanel
from desktop.ui.widgets.transfers import TransfersPanel

RECENT_SETTLED = 20  # finished jobs of earlier sessions shown; unfinished ones all are
QUEUE_POLL_MS = 2000  #: how often the queue is looked at for what other processes did
SETTLED = frozenset({"done", "committed"})


def outcome(job: JobSummary) -> str:
    """The status line of a job that has stopped: 'Job 3 to PACS: cancelled, 0 of 24 sent'."""
    return f"Job {job.id} to {job.node}: {job.state}, {job.sent} of {job.total} sent"


def stopped(job: JobSummary, warnings: StoreWarnings | None, reason: str = "") -> tuple[str, str]:
    """The Log level and line of a job that has stopped: 'done, sent 12 of 12; the peer
    stored 3 of them with a warning: elements discarded (0xB006)', as `send` says it."""
    level = "error" if job.failed else "warning" if warnings else "info"
    said = f"{job.state}, sent {job.sent} of {job.total}" + (f": {reason}" if reason else "")
    return level, said + (f"; {warnings.said}" if warnings else "")


class SendController(QObject):
    def __init__(
        self,
        shell: Shell,
        panel: TransfersPanel,
        controller: TransferController,
        *,
        sources: SourcesPanel,
        nodes: NodesController,
        checks: NodeChecks,
        show_panel: Callable[[], None],
        menu_actions: list[QAction],
    ) -> None:
        super().__init__(shell.window)
        self.shell, self.transfers, self.controller = shell, panel, controller
        self.services, self.log = shell.services, shell.log
        self.sources, self.browser, self.nodes = sources, sources.media, nodes
        self.checks, self.show_panel, self.menu_actions = checks, show_panel, menu_actions
        self._send_menu_nodes: list[str] = []
        nodes.listed.connect(self._set_nodes)
        nodes.nodes.send_requested.connect(self.send_items)
        for browser in sources.browsers():
            browser.view.customContextMenuRequested.connect(self._tree_menu)
        panel.retry_requested.connect(self.retry_job)
        panel.retry_failed_requested.connect(self.retry_failed)
        panel.cancel_requested.connect(self.cancel_job)
        panel.unselected.connect(shell.status)
        controller.job_updated.connect(self._job_updated)
        controller.session.connect(self._session)
        controller.note.connect(lambda node, text: self.log.add("warning", node, text))
        controller.failed.connect(self._transfer_failed)
        self._known: dict[int, JobSummary] = {}  # each job as last seen in the queue
        self._queue_stamp: tuple[tuple[int, int] | None, ...] = ()
        self.show_queue()
        self._follow = QTimer(self, interval=QUEUE_POLL_MS)
        self._follow.timeout.connect(self.follow_queue)
        self._follow.start()

    def show_queue(self) -> None:
        """List the queue's jobs that are not pending (those are resumed and shown as they
        run): every failed or cancelled one, with its failures and reason, and the most
        recent finished ones."""
        try:
            queue = TransferQueue(self.services.queue_path)
        except CourierError as error:
            self.log.add("error", "", f"the transfer queue cannot be read: {error}")
            return
        try:
            self._queue_stamp = self._stamp()
            every = queue.jobs()
            self._known = {job.id: job for job in every}
            jobs = [job for job in every if not job.pending]
            settled = [job for job in jobs if job.state in SETTLED][-RECENT_SETTLED:]
            for job in jobs:
                if job.state in SETTLED and job not in settled:
                    continue
                failures, reason = failures_and_reason(queue, job.id)
                warnings = store_warnings(queue, job.id, job.node)
                self.transfers.show_job(job, failures, reason=reason, warnings=warnings)
        finally:
            queue.close()

    def follow_queue(self) -> None:
        """Show what other processes did to the queue since it was last read: their new
        jobs, as they run and stop (with failures and reason, said in the Log too), and the
        rows of a node renamed. The jobs this window runs say it themselves."""
        stamp = self._stamp()
        if stamp == self._queue_stamp:
            return
        try:
            queue = TransferQueue(self.services.queue_path)
        except CourierError:
            return  # said when the window opened the queue
        try:
            self._queue_stamp = stamp
            ours = set(self.controller.running.values())
            for job in queue.jobs():
                before = self._known.get(job.id)
                self._known[job.id] = job
                hidden = before is not None and job.id not in self.transfers.rows
                if job == before or job.id in ours or hidden:
                    continue
                if job.pending:
                    self.transfers.show_job(job)
                    continue
                failures, reason = failures_and_reason(queue, job.id)
                warnings = store_warnings(queue, job.id, job.node)
                self.transfers.show_job(job, failures, reason=reason, warnings=warnings)
                if before is None or before.pending:
                    level, said = stopped(job, warnings, reason)
                    self.log.add(
                        level,
                        job.node,
                        f"job {job.id} (another program's): {said}",
                        "\n".join([*failures, *(warnings.lines if warnings else ())]),
                    )
        finally:
            queue.close()

    def _stamp(self) -> tuple[tuple[int, int] | None, ...]:
        """The queue's files as they are now: any change to it changes this."""
        path = self.services.queue_path
        stamps: list[tuple[int, int] | None] = []
        for file in (path, path.with_name(f"{path.name}-wal")):
            try:
                found = file.stat()
            except OSError:
                stamps.append(None)
            else:
                stamps.append((found.st_mtime_ns, found.st_size))
        return tuple(stamps)

    def commitment_reported(self, transaction: str) -> None:
        """A storage commitment report for one of our jobs reached the Inbox: its row says
        what it became (committed, or not with the reason)."""
        queue = TransferQueue(self.services.queue_path)
        try:
            job_id = queue.job_of_transaction(transaction)
            if job_id is None:
                return
            job = queue.job(job_id)
            failures, reason = failures_and_reason(queue, job_id)
        finally:
            queue.close()
        self.transfers.show_job(job, failures or None, reason=reason)
        self.shell.status(outcome(job))

    def _set_nodes(self, names: list[str]) -> None:
        self._send_menu_nodes = names

    def tree_menu(self) -> QMenu:
        """The browser's right-click menu: Send to ▸ each node, then the selection's actions."""
        menu = QMenu(self.shell.window)
        send = menu.addMenu("Send to")
        for name in self._send_menu_nodes:
            action = send.addAction(menu_text(name))
            action.triggered.connect(lambda _=False, n=name: self.send_selected(n))
        menu.addActions(self.menu_actions)
        return menu

    def _tree_menu(self, position: QPoint) -> None:
        view = self.sources.current_browser().view
        self.tree_menu().exec(view.viewport().mapToGlobal(position))

    def send_selected(self, node: str) -> None:
        browser = self.sources.current_browser()
        self.send_items(node, store_items(browser.selected_instances()))

    def send_items(self, node_name: str, items: list[StoreItem]) -> bool:
        """Queue the selected or dropped instances for ``node_name`` once the user confirms;
        whether they were queued."""
        if not items:
            self.shell.status("Nothing to send")
            return False
        try:
            confirmed = self.confirm_send(node_name, items)
            if confirmed is None:
                return False
            self.controller.submit(
                node_name, items, self._describe(items), deid=confirmed.deidentification()
            )
        except CourierError as error:  # the node may be gone since the menu was made
            self.nodes.refused(f"Cannot send to {node_name}", error)
            return False
        self.show_panel()
        self.shell.status(f"Queued {len(items)} instance(s) for {node_name}")
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

    def confirm_send(self, node_name: str, items: list[StoreItem]) -> SendConfirmation | None:
        """The accepted confirmation (with its de-identification choice); None if refused."""
        node = self.services.node(node_name)
        size = sum(i.size for i in items) / 2**20
        security = (
            f"TLS {node.profile}, identity {node.identity or 'none'}"
            if node.tls
            else "PLAIN DICOM (no encryption)"
        )
        compression = in_words(node.compress)
        text = (
            f"Send {self._describe(items)} — {len(items)} instance(s), {size:.1f} MB — to "
            f"{node.name} ({node.ae_title}@{node.host}:{node.port}) over {security}"
            + (f", {compression}?" if compression else "?")
        )
        dialog = SendConfirmation(text, Deidentification.of_node(node), self.shell.window)
        return dialog if self.shell.prompter.run(dialog) else None

    def _job_updated(self, update: JobUpdate) -> None:
        job = update.progress.job
        self._known[job.id] = job
        self.transfers.show_job(
            job,
            update.failures,
            reason=update.reason,
            retry_at=update.retry_at,
            state=f"node {job.node!r} is gone" if update.node_gone else "",
            warnings=update.warnings,
        )
        if update.node_gone:
            self.log.add("error", job.node, f"job {job.id} cannot run: {update.reason}")
        elif update.retry_at is not None:
            self.log.add("warning", update.node, f"job {job.id} waits to retry: {update.reason}")
        if update.failures is not None and job.sent:
            with suppress(ConfigError):  # the node may have gone meanwhile
                self.checks.record(self.services.node(update.node), "send", ok=True)
            self.nodes.refresh_nodes()
        if update.failures is not None:
            warnings = update.warnings
            level, said = stopped(job, warnings)
            self.log.add(
                level,
                update.node,
                f"job {job.id}: {said}",
                "\n".join([*update.failures, *(warnings.lines if warnings else ())]),
            )
            warned = f", {warnings.count} stored with a warning (see the Log)" if warnings else ""
            self.shell.status(outcome(job) + warned)

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
        self.shell.status(
            f"Nothing sent to {node}: every image held back for burned-in text"
            if isinstance(error, HeldBackError)
            else f"Transfer to {node} stopped: {describe(error)}"
        )
        self.shell.report(f"Transfer to {node}", error)

    def retry_job(self, job_id: int) -> None:
        """Re-queue the failed instances of job ``job_id`` and send them again."""
        job, count = self._retry(job_id)
        self.shell.status(
            f"Job {job_id}: {count} instance(s) re-queued"
            if count
            else f"Job {job_id} is {job.state}: nothing to retry"
        )

    def retry_failed(self) -> None:
        """Re-queue every failed job (Retry failed with no job selected), as `queue retry
        --failed` does."""
        queue = TransferQueue(self.services.queue_path)
        try:
            failed = [job.id for job in queue.jobs() if job.state == "failed"]
        finally:
            queue.close()
        count = sum(self._retry(job_id)[1] for job_id in failed)
        self.shell.status(
            f"Retrying {len(failed)} failed job(s) ({', '.join(map(str, failed))}): "
            f"{count} instance(s) re-queued"
            if failed
            else "No failed job to retry"
        )

    def _retry(self, job_id: int) -> tuple[JobSummary, int]:
        """Job ``job_id`` re-queued and resumed; how many of its instances are due again."""
        queue = TransferQueue(self.services.queue_path)
        try:
            count = queue.retry(job_id)
            job = queue.job(job_id)
        finally:
            queue.close()
        self.transfers.show_job(job, [], state=f"re-queued {count}" if count else "")
        if job.pending:
            self.controller.resume(job)
        return job, count

    def cancel_job(self, job_id: int) -> None:
        queue = TransferQueue(self.services.queue_path)
        try:
            try:
                queue.cancel(job_id)
            except QueueError:  # all sent: what may still run is its commitment request
                if not self.controller.cancel(queue.job(job_id)):
                    raise
                self.shell.status(f"Job {job_id}: storage commitment request stopped")
                return
            job = queue.job(job_id)
            self.controller.cancel(job)
            self.transfers.show_job(job)
            self.shell.status(outcome(job))
        except CourierError as error:
            self.shell.status(str(error))
        finally:
            queue.close()

    def may_quit(self) -> bool:
        """True when nothing is sending or queued, or the user agrees to stop it (then stopped)."""
        if not (self.controller.busy() or self._pending_jobs()):
            return True
        if not self.confirm_quit():
            return False
        self.controller.stop_all()
        return True

    def _pending_jobs(self) -> bool:
        """Whether the queue holds jobs that would resume next time: a job whose node was
        renamed or removed runs nowhere, so quitting stops nothing of it."""
        try:
            nodes = {node.name for node in self.services.nodes()}
        except ConfigError:
            return False  # no node can be read: none of the jobs can run
        queue = TransferQueue(self.services.queue_path)
        try:
            return any(queue.job(job).node in nodes for job in queue.runnable())
        finally:
            queue.close()

    def confirm_quit(self) -> bool:
        return self.shell.prompter.confirm(
            "Transfers are running",
            "Stop the transfers and quit? What was sent is kept; the rest stays in the "
            "queue and resumes next time.",
        )
