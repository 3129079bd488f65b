"""Long work off the GUI thread: a generator runs on the thread pool and reports by signals.

Modelled on superqt's generator workers: each record the generator yields becomes a
``record`` signal, its return value ``done``, an error ``failed`` (with a message fit for a
dialog); ``cancel()`` stops it between two records.
"""

import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from desktop.core.errors import CourierError


class WorkerSignals(QObject):
    record = Signal(object)
    done = Signal(object)
    failed = Signal(str)
    stopped = Signal()  # cancelled before the end


class GeneratorWorker(QRunnable):
    """Runs ``make()`` (a generator) on a pool thread, relaying what it yields and returns."""

    def __init__(self, make: Callable[[], Generator[Any, None, Any]]) -> None:
        super().__init__()
        self.make = make
        self.signals = WorkerSignals()
        self._cancelled = threading.Event()
        # The pool must not delete the runnable (and its signals) while queued signals are
        # still on their way to the GUI thread: ``start`` keeps it alive until it reports.
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self) -> None:
        # Runs once: what ``make`` holds (items to send, a tree ...) is freed when it ends,
        # even while the worker object itself is still referenced.
        make, self.make = self.make, _spent
        try:
            generator = make()
            while True:
                if self._cancelled.is_set():
                    generator.close()
                    self.signals.stopped.emit()
                    return
                try:
                    record = next(generator)
                except StopIteration as finished:
                    self.signals.done.emit(finished.value)
                    return
                self.signals.record.emit(record)
        except CourierError as error:
            self.signals.failed.emit(str(error))
        except Exception as error:
            self.signals.failed.emit(f"{type(error).__name__}: {error}")


def _spent() -> Generator[Any, None, Any]:
    raise RuntimeError("a worker runs once")


_RUNNING: dict[int, GeneratorWorker] = {}


def start(worker: GeneratorWorker, pool: QThreadPool | None = None) -> GeneratorWorker:
    """Run ``worker`` on the pool, holding it until its last signal reached the GUI thread.

    The release slot holds the worker's id, not the worker: a slot that captured the worker
    would tie it to its own signals in C++, a cycle Python's collector cannot see, and every
    worker would live (with what its generator holds) until the end of the session.
    """
    key = id(worker)
    _RUNNING[key] = worker
    for finished in (worker.signals.done, worker.signals.failed):
        finished.connect(lambda *_: _RUNNING.pop(key, None))
    worker.signals.stopped.connect(lambda: _RUNNING.pop(key, None))
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker


def call(function: Callable[[], Any]) -> GeneratorWorker:
    """A worker for a plain function: ``done`` carries its result."""

    def once() -> Generator[Any, None, Any]:
        result = function()
        yield from ()
        return result

    return GeneratorWorker(once)
