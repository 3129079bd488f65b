"""The Query/Retrieve panel: C-FIND of studies and C-MOVE into our Inbox, on the thread pool."""

from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject

from desktop import auditing
from desktop.app import InboxSettings
from desktop.core.errors import CourierError
from desktop.ui.shell import Shell
from desktop.ui.widgets.query import QueryPanel
from desktop.ui.workers import GeneratorWorker, call, start


class QueryController(QObject):
    def __init__(
        self, shell: Shell, panel: QueryPanel, inbox: Callable[[], InboxSettings | None]
    ) -> None:
        super().__init__(shell.window)
        self.shell, self.query, self.inbox = shell, panel, inbox
        self.services = shell.services
        panel.find_requested.connect(self.find_studies)
        panel.retrieve_requested.connect(self.retrieve)

    def find_studies(self, node_name: str, keys: dict[str, str]) -> GeneratorWorker | None:
        """C-FIND the studies matching ``keys`` on a worker; the matches go to the panel."""
        from desktop.net.query import Unsupported, find  # deferred, as pydicom is

        try:
            node = self.services.prepare(node_name)
        except CourierError as error:
            self.shell.show_error("Find", str(error))
            return None
        unsupported = Unsupported()

        def matches() -> list[dict[str, str]]:
            _, connector, peer = self.services.connection(node_name)
            return [
                {
                    e.keyword: "\\".join(map(str, e.value)) if e.VM > 1 else str(e.value)
                    for e in match
                    if e.keyword
                }
                for match in find(connector, peer, "study", keys, unsupported=unsupported)
            ]

        worker = call(lambda: auditing.queried(node, "study", keys, matches))
        worker.signals.returned.connect(
            lambda found: self.query.show_results(found, warning=unsupported.describe())
        )
        worker.signals.errored.connect(lambda error: self.shell.report("Find", error))
        return start(worker)

    def retrieve(self, node_name: str, study_uids: list[str]) -> GeneratorWorker | None:
        """C-MOVE the studies into the Inbox (our listener must run), with progress."""
        from desktop.net.query import QueryError, move, unreached

        inbox = self.inbox()
        if inbox is None:
            self.shell.show_error(
                "Retrieve",
                "Our listener is not running: turn it on in Settings ▸ Inbox listener, "
                "then retrieve",
            )
            return None
        try:
            self.services.prepare(node_name)
        except CourierError as error:
            self.shell.show_error("Retrieve", str(error))
            return None
        destination, store = inbox.ae_title, self.services.store

        def moves() -> Generator[Any, None, tuple[int, int]]:
            _, connector, peer = self.services.connection(node_name)
            before = store().counts()[3]
            retrieved = 0
            for uid in study_uids:
                last, listener = None, self.services.listener
                since = listener.connections if listener is not None else 0
                try:
                    for last in move(connector, peer, destination, uid):
                        yield last
                except QueryError as error:  # said as `move --listen` says it
                    if listener is None or listener.connections > since:
                        raise
                    where = f"{listener.settings.host}:{listener.port}"
                    raise QueryError(
                        f"{error}; {unreached(node_name, destination, where)}"
                    ) from error
                retrieved += last.completed if last is not None else 0
            return retrieved, store().counts()[3] - before

        worker = GeneratorWorker(moves)
        worker.signals.yielded.connect(
            lambda p: self.query.show_move(p.completed, p.failed, p.remaining)
        )
        worker.signals.returned.connect(self._retrieved)
        worker.signals.errored.connect(lambda error: self.shell.report("Retrieve", error))
        return start(worker)

    def _retrieved(self, counts: tuple[int, int]) -> None:
        retrieved, new = counts
        self.shell.status(
            f"{retrieved} instance(s) retrieved into the Inbox ({new} new; the Inbox tab)"
        )
