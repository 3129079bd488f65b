"""De-identified copies made by worker processes, one a core: the bytes path is Python and
takes a core per file stream, while this process moves finished copies into place.

Workers are forked (cheap: no start-up, the profile and its key inherited, never pickled)
from a process that runs no other thread. Each takes a few sources at a time and writes their
copies beside their targets under temporary names; this process takes the outcomes in the
order of the sources, checks each target against the run's copies (two files of one SOP
Instance UID: the second refused, as in one process), and commits them ``batch.BATCH`` at a
time (flushed to disk, then renamed). So the copies, their names and the report are those one
process would make, and no copy is under its name before it is whole on disk.
"""

import contextlib
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from desktop.core.deid.batch import Outcome, Read, Targets, copy_into
from desktop.core.deid.profile import Profile
from desktop.core.errors import CourierError
from desktop.core.files import AtomicBatch, sweep_leftovers
from desktop.core.forking import unsafe_threads

#: Fewer sources than this are copied by the calling process (forking costs more than it saves).
SMALLEST = 64
#: Sources a worker copies per task (fewer messages), and tasks queued per worker: two
#: batches ahead, so the workers go on while this process waits for a batch's flush.
CHUNK, AHEAD = 8, 8


@dataclass(frozen=True, slots=True)
class Made:
    """A worker's outcome for one source: its copy under a temporary name beside the target,
    or why there is none."""

    temporary: Path | None = None
    target: Path | None = None
    read: Read | None = None
    error: str = ""


def workers_for(count: int) -> int:
    """How many worker processes copy ``count`` sources: one a core this process may use, or
    0 when it copies them itself (one core, few sources, no ``fork``, or other threads
    running: a forked child would inherit their locks held)."""
    if count < SMALLEST or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    if unsafe_threads():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores if cores and cores > 1 else 0


def made_by_workers(
    sources: Sequence[Path], out: Path, profile: Profile, batch: AtomicBatch, *, workers: int
) -> Generator[Outcome, None, None]:
    """Each source's outcome, in order, its copy (written by a worker) adopted by ``batch``;
    when the run stops early, the copies written and not adopted are removed."""
    for stream in (sys.stdout, sys.stderr):  # a child would write their buffers again
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    claims = Targets(out)
    chunks = (sources[start : start + CHUNK] for start in range(0, len(sources), CHUNK))
    queued: deque[tuple[Sequence[Path], Future[list[Made]]]] = deque()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start,
        initargs=(out, profile, os.getpid()),
    )
    try:
        while True:
            while len(queued) < workers * AHEAD and (chunk := next(chunks, None)) is not None:
                queued.append((chunk, pool.submit(_make, chunk)))
            if not queued:
                return
            chunk, task = queued[0]
            made = task.result()
            queued.popleft()
            for position, (source, done) in enumerate(zip(chunk, made, strict=True)):
                try:
                    yield _adopted(source, done, claims, batch)
                except BaseException:
                    _remove(made[position + 1 :])
                    raise
    except BaseException:  # stopped (closed, interrupted, a worker killed): nothing of ours left
        pool.shutdown(wait=True, cancel_futures=True)
        sweep_leftovers(out, run=os.getpid())  # a killed worker's, the batch's not yet moved
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for _, task in queued:
            if not task.cancelled() and task.exception() is None:
                _remove(task.result())


def _adopted(source: Path, done: Made, claims: Targets, batch: AtomicBatch) -> Outcome:
    """``source``'s outcome once its copy is claimed and adopted (refused: removed)."""
    if done.temporary is None or done.target is None:
        return source, None, done.error
    try:
        claims.claim(source, done.target)
    except CourierError as error:
        done.temporary.unlink(missing_ok=True)
        return source, None, str(error)
    batch.adopt(done.temporary, done.target)
    return source, done.read, ""


def _remove(made: Sequence[Made]) -> None:
    for done in made:
        if done.temporary is not None:
            done.temporary.unlink(missing_ok=True)


_worker: tuple[Profile, Targets, int] | None = None


def _start(out: Path, profile: Profile, parent: int) -> None:
    """A worker's state: the profile and where copies go (claims are the run's). It ends with
    its parent: one killed would leave it waiting for work for ever."""
    global _worker
    _worker = profile, Targets(out, claim=False), parent
    # Ctrl+C (the whole process group's) and the command's SIGTERM handler are for the parent,
    # which stops the run and removes its files; a worker goes on, or ends when told to.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with_parent()
    if os.getppid() != parent:  # the parent died before that
        raise SystemExit(1)


def _end_with_parent() -> None:
    """Have the system end this process when its parent does (Linux; elsewhere a parent dies
    of being killed only)."""
    if sys.platform == "linux":
        import ctypes

        set_death_signal = 1  # prctl's PR_SET_PDEATHSIG
        ctypes.CDLL(None).prctl(set_death_signal, signal.SIGTERM, 0, 0, 0)


def _make(sources: Sequence[Path]) -> list[Made]:
    """In a worker: each source's copy written under a temporary name, or why there is none."""
    assert _worker is not None, "a worker started by made_by_workers"
    profile, targets, parent = _worker
    made: list[Made] = []
    try:
        for source in sources:
            batch = AtomicBatch(run=parent)  # its leftovers are the run's: swept once it died
            try:
                read = copy_into(source, profile, None, None, batch, targets)
            except CourierError as error:
                made.append(Made(error=str(error)))
                continue
            ((temporary, target),) = batch.hand_over()
            made.append(Made(temporary, target, read))
    except BaseException:
        _remove(made)
        raise
    return made
