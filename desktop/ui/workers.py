"""Long work off the GUI thread: a generator runs on a thread pool and reports by signals.

As superqt's generator workers: each record the generator yields becomes ``yielded``, its
return value ``returned``, an exception ``errored`` (the exception itself, traceback included,
never flattened to a string), a cancellation ``aborted``; ``cancel()`` stops it between two
records.
"""

import logging
import threading
from collections.abc import Callable, Generator
from contextlib import suppress
from typing import Any, TypeVar

from PySide6.QtCore import QEventLoop, QObject, QRunnable, QThreadPool, Signal

from desktop.core.errors import CourierError

LOG = logging.getLogger(__name__)
T = TypeVar("T")


class WorkerSignals(QObject):
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception
    aborted = Signal()  # cancelled before the end


class GeneratorWorker(QRunnable):
    """Runs ``make()`` (a generator) on a pool thread, relaying what it yields and returns."""

    def __init__(self, make: Callable[[], Generator[Any, None, Any]]) -> None:
        super().__init__()
        self.make = make
        self.signals = WorkerSignals()
        self._cancelled = threading.Event()
        self._on_cancel: list[Callable[[], None]] = []
        # The pool must not delete the runnable (and its signals) while queued signals are
        # still on their way to the GUI thread: ``start`` keeps it alive until it reports.
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self._cancelled.set()
        for callback in list(self._on_cancel):
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the cancelling thread) when cancelled, at once if already:
        how a generator blocked on the network is woken."""
        self._on_cancel.append(callback)
        if self.cancelled:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking at once when cancelled (a generator's ``sleep``)."""
        self._cancelled.wait(seconds)

    def run(self) -> None:
        # Runs once: what ``make`` holds (items to send, a tree ...) is freed when it ends,
        # even while the worker object itself is still referenced.
        make, self.make = self.make, _spent
        try:
            generator = make()
            while True:
                if self._cancelled.is_set():
                    generator.close()
                    self.signals.aborted.emit()
                    return
                try:
                    record = next(generator)
                except StopIteration as finished:
                    self.signals.returned.emit(finished.value)
                    return
                self.signals.yielded.emit(record)
        except Exception as error:
            if self._cancelled.is_set():  # cut off (the window closed): nothing to report
                LOG.debug("a cancelled worker stopped: %s", error)
                with suppress(RuntimeError):  # the signals may be gone with the window
                    self.signals.aborted.emit()
                return
            if not isinstance(error, CourierError):
                LOG.error("a worker failed", exc_info=error)
            self.signals.errored.emit(error)


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
    for finished in (worker.signals.returned, worker.signals.errored):
        finished.connect(lambda *_: _RUNNING.pop(key, None))
    worker.signals.aborted.connect(lambda: _RUNNING.pop(key, None))
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker


def cancel_running(wait_ms: int = 10000) -> None:
    """Cancel every running worker and wait for the shared pool's threads to end (the
    application is quitting: none may still run while Qt and Python are torn down)."""
    for worker in list(_RUNNING.values()):
        worker.cancel()
    QThreadPool.globalInstance().waitForDone(wait_ms)


def call(function: Callable[[], Any]) -> GeneratorWorker:
    """A worker for a plain function: ``returned`` carries its result."""

    def once() -> Generator[Any, None, Any]:
        result = function()
        yield from ()
        return result

    return GeneratorWorker(once)


class _Done(QObject):
    done = Signal()


def wait_off_gui(function: Callable[[], T]) -> T:
    """``function()`` computed on a thread of its own while the caller's event loop runs (a
    dialog stays drawn and the transfers' rows move): for a short wait whose answer the
    caller needs, such as checking a typed password (scrypt, ~0.1 s)."""
    outcome: list[Any] = []
    done, loop = _Done(), QEventLoop()
    done.done.connect(loop.quit)  # queued: emitted on the thread, run by the loop

    def run() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as error:  # handed back to the caller as is
            outcome.append((False, error))
        finally:
            done.done.emit()

    thread = threading.Thread(target=run, name="wait_off_gui", daemon=True)
    thread.start()
    if not outcome:
        loop.exec()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
