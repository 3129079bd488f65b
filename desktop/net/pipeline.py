"""Packing ahead of the socket: the next instances are compressed on every core while the
current one is on the wire, a few at a time (memory stays bounded).

With ``auto`` a pacer measures both sides as it goes: the first PROBE instances go as stored
to measure the link (the fastest of them), the encoders start only where they promise to
halve the time at the CPU share this machine can spare, an instance whose packing is not
ready goes as stored while packing is unmeasured (unless it ends within half of what it
would save), and packing stops (for RETRY_AFTER instances) when its measured cost, waits
included, is not below sending as stored.
"""

import logging
import os
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from desktop.net.compression import Codec, Packed, pack

log = logging.getLogger(__name__)
MARGIN = 0.9  # packing must promise at least 10% less time than sending as stored
PROBE = 2  # instances sent as stored to measure the link before auto starts packing
SETTLE = 3  # packed instances measured before their cost overrules the prediction
WINDOW = 8  # packed instances whose median cost is weighed (a stall of a busy machine is not)
RETRY_AFTER = 50  # instances sent as stored after auto stopped packing, before it measures again
LIKELY_RATIO = 2.5  # what lossless codecs give on CT (2.8-2.9:1), before one is measured
#: Loading a codec stalls the sender (a second under load, under the GIL) and its threads
#: take CPU from it: auto starts only where packing promises to halve the time.
START_MARGIN = 0.5


@dataclass(frozen=True, slots=True)
class Job:
    """One instance to pack: the file as queued."""

    path: str
    size: int
    sha256: str
    state_when_queued: str = ""


class Pacer:
    """Seconds per source byte of each way, measured: sending as stored (before any encoder
    runs), packing (per worker), and packing and sending (stalls included) once chosen."""

    def __init__(self, workers: int, busy: float = 0.0) -> None:
        """``busy``: runnable tasks per core (the load average's share): a codec's usual
        speed is what this machine can spare of it."""
        self.workers = workers
        self.share = 1.0 / max(busy, 1.0)
        self.stored: float | None = None
        self.stored_count = 0
        self.encode: float | None = None
        self.ratio: float | None = None
        self.packed: float | None = None
        self.packed_count = 0
        self.recent: deque[float] = deque(maxlen=WINDOW)

    @staticmethod
    def _mean(old: float | None, new: float) -> float:
        return new if old is None else 0.7 * old + 0.3 * new

    def sent_stored(self, size: int, seconds: float) -> None:
        """The link's speed is the fastest instance sent as stored: the first pays for the
        association's start, and a busy machine stalls some (at load 6 one loopback
        instance of 4 ms took 35, and looked like a slow link)."""
        self.stored_count += 1
        cost = seconds / max(size, 1)
        self.stored = cost if self.stored is None else min(self.stored, cost)

    def worth_starting(self, codec: Codec) -> bool:
        """Whether the link, measured, is slow enough that packing may win at the codec's
        usual speed (a link faster than the encoders never loads them)."""
        if self.stored is None or self.stored_count < PROBE:
            return False
        encoding = codec.seconds_per_byte / self.share / self.workers
        expected = max(encoding, self.stored / LIKELY_RATIO)
        return expected < self.stored * START_MARGIN

    def encoded(self, packed: Packed) -> None:
        if packed.data is not None and packed.source_bytes:
            self.encode = self._mean(self.encode, packed.seconds / packed.source_bytes)
            self.ratio = self._mean(self.ratio, packed.source_bytes / max(len(packed.data), 1))

    def sent_packed(self, size: int, seconds: float) -> None:
        """The first packed instance is not counted: it waited for the workers to start; the
        cost is the median of the last WINDOW (one 0.65 s stall among 22 ms sends was seen at
        load 4 on 100 Mbit/s: a mean would have stopped packing for it)."""
        self.packed_count += 1
        if self.packed_count > 1:
            self.recent.append(seconds / max(size, 1))
            self.packed = _median(self.recent)

    def worth_packing(self) -> bool | None:
        """Whether packing beats sending as stored here; None while either is unmeasured."""
        if self.stored is None or self.encode is None or self.ratio is None:
            return None
        expected = max(self.encode / self.workers, self.stored / self.ratio)
        if self.packed is not None and self.packed_count > SETTLE:
            expected = self.packed
        return expected < self.stored * MARGIN


class Ahead:
    """Packs the instances of ``jobs`` (by position in the association's order) in advance,
    at most ``window`` at once."""

    def __init__(
        self,
        jobs: Mapping[int, Job],
        codec: Codec,
        *,
        auto: bool,
        workers: int = 0,
        busy: float | None = None,
    ) -> None:
        self.jobs, self.codec = dict(jobs), codec
        self.order = sorted(self.jobs)
        self.workers = workers or os.cpu_count() or 1
        self.window = self.workers + 2
        self.pacer = Pacer(self.workers, _busy() if busy is None else busy) if auto else None
        self.futures: dict[int, Future[Packed]] = {}
        self.executor: Executor | None = None
        self.backed_off = False
        self.retry_at = 0
        self.busy = busy
        self.started = not auto
        self._next = 0
        self.position = -1
        self._fill(-1)

    def _pool(self) -> Executor:
        if self.executor is None:
            if self.codec.threads:
                self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="pack")
            else:  # spawn: forking a process that runs threads (the GUI's, the runner's) is unsafe
                import multiprocessing  # with the process pool: 20-40 ms that JPEG-LS never needs
                from concurrent.futures import ProcessPoolExecutor

                context = multiprocessing.get_context("spawn")
                self.executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self.executor

    def _fill(self, current: int) -> None:
        while (
            self.started
            and not self.backed_off
            and self._next < len(self.order)
            and len(self.futures) < (self.window)
        ):
            position = self.order[self._next]
            self._next += 1
            if position <= current:
                continue
            job = self.jobs[position]
            try:
                future = self._pool().submit(
                    pack, job.path, job.size, job.sha256, self.codec.syntax, job.state_when_queued
                )
            except (OSError, RuntimeError) as error:  # no worker can start: send as stored
                log.warning("compression stops: its workers cannot start: %s", error)
                self.back_off()
                return
            future.add_done_callback(self._measure)
            self.futures[position] = future

    def _measure(self, future: "Future[Packed]") -> None:
        """Every packing that finished feeds the pacer, used or not (a worker's thread)."""
        if self.pacer is not None and not future.cancelled() and future.exception() is None:
            self.pacer.encoded(future.result())

    def take(self, position: int) -> tuple[Packed | None, float]:
        """The instance at ``position`` packed (None: send it as stored) and the seconds spent
        waiting for it."""
        if self.backed_off and self.pacer is not None and position >= self.retry_at:
            self._measure_again()
        if not self.started and self.pacer is not None and self.pacer.worth_starting(self.codec):
            self.started = True
        self.position = position
        future = self.futures.pop(position, None)
        self._fill(position)
        if future is None:
            return None, 0.0
        start = time.perf_counter()
        if self.pacer is not None and not future.done():
            worth = self.pacer.worth_packing()
            if worth is False:
                self.back_off()
            if not worth and not (worth is None and self._worth_waiting(future, position)):
                future.cancel()
                return None, 0.0
        try:
            packed = future.result()
        except BaseException as error:  # a codec's panic, a worker that died
            if not isinstance(error, Exception) and type(error).__name__ != "PanicException":
                raise
            log.warning("packing %s failed", self.jobs[position].path, exc_info=error)
            return Packed(None, note=f"sent uncompressed: {type(error).__name__}: {error}"), 0.0
        return packed, time.perf_counter() - start

    def _worth_waiting(self, future: "Future[Packed]", position: int) -> bool:
        """While packing is unmeasured, whether the instance's packing ended within half of
        what packing likely saves on the link measured (at 100 Mbit/s 13 ms, against 42 ms
        as stored: the first packed instances came 2-3 instances later without it)."""
        if self.pacer is None or self.pacer.stored is None:
            return False
        job = self.jobs[position]
        try:
            size = job.size or Path(job.path).stat().st_size
        except OSError:
            return False
        saving = self.pacer.stored * size * (1 - 1 / LIKELY_RATIO)
        done, _ = wait([future], timeout=saving / 2)
        return bool(done)

    def sent(self, packed: Packed | None, size: int, seconds: float) -> None:
        """Record how long sending an instance of ``size`` source bytes took (waits included)."""
        if self.pacer is None or self.backed_off:
            return
        if packed is None or packed.data is None:
            if not self.started:  # once encoders run, they take the sender's CPU too
                self.pacer.sent_stored(size, seconds)
        else:
            self.pacer.sent_packed(size, seconds)
            if self.pacer.worth_packing() is False:
                self.back_off()

    def back_off(self) -> None:
        """Stop packing: the next RETRY_AFTER instances go as stored, then auto measures the
        link and the encoders again (a busy minute must not decide a long association)."""
        if not self.backed_off:
            log.info("compression stops: sending as stored is faster on this link")
        self.backed_off = True
        self.retry_at = self.position + RETRY_AFTER
        self.close()

    def _measure_again(self) -> None:
        self.backed_off, self.started = False, False
        self.pacer = Pacer(self.workers, _busy() if self.busy is None else self.busy)

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.futures.clear()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None


def _median(values: deque[float]) -> float:
    """The median (statistics' would cost auto 15-25 ms of import on every send)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _busy() -> float:
    """Runnable tasks per core over the last minute, less the one this send is (0 where the
    system does not say)."""
    try:
        return max(os.getloadavg()[0] - 1.0, 0.0) / (os.cpu_count() or 1)
    except OSError:
        return 0.0
