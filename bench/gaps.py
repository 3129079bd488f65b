"""Where the GUI thread's long gaps go: ticks of a QTimer on the GUI thread, with the GUI
thread's and the process's CPU time at each tick, and a watchdog thread that samples every
thread's stack (``sys._current_frames``) while a tick is late.

A gap in which the process got little CPU was the machine's (other processes had the
cores); one in which another thread of ours ran while the GUI thread did not was the GIL's;
one in which the GUI thread itself was busy was its own work. The stacks say whose.
"""

import faulthandler
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QTimer

SCHEDSTAT = Path("/proc/thread-self/schedstat")


@dataclass(frozen=True, slots=True)
class Gap:
    start: float  # perf_counter seconds
    wall_ms: float
    gui_cpu_ms: float
    process_cpu_ms: float
    gui_waiting_ms: float  # runnable, waiting for a core: the machine's share of the gap
    stacks: list[tuple[str, int]] = field(default_factory=list)  # where, samples

    def line(self) -> str:
        where = "; ".join(f"{count}× {stack}" for stack, count in self.stacks) or "no sample"
        return (
            f"{self.wall_ms:.0f} ms (GUI thread: CPU {self.gui_cpu_ms:.0f} ms, waiting for a "
            f"core {self.gui_waiting_ms:.0f} ms; process CPU {self.process_cpu_ms:.0f} ms): "
            f"{where}"
        )


def _where(frame: object, depth: int = 3) -> str:
    """The innermost ``depth`` frames of a stack, as file:function."""
    summary = traceback.extract_stack(frame)[-depth:]  # type: ignore[arg-type]
    return " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.name}" for f in reversed(summary))


class GapWatch:
    """Start before the work, stop after; ``gaps(longer_than_ms)`` then tells them."""

    def __init__(self, interval_ms: int = 5, late_ms: float = 30.0) -> None:
        self.interval, self.late = interval_ms, late_ms / 1000
        # wall, GUI thread CPU, process CPU, GUI thread's time runnable but not running
        self.ticks: list[tuple[float, float, float, float]] = []
        self.samples: list[tuple[float, str]] = []  # when, "thread: where"
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._watchdog = threading.Thread(target=self._watch, name="gap-watchdog", daemon=True)
        self.dumps = GilFreeDumps()

    def start(self) -> None:
        self._tick()
        self.timer.start(self.interval)
        self._watchdog.start()

    def stop(self) -> None:
        self.timer.stop()
        self.dumps.stop()
        self._stop.set()
        self._watchdog.join()

    def _tick(self) -> None:
        self.dumps.arm()
        self.ticks.append(
            (time.perf_counter(), time.thread_time(), time.process_time(), _waiting_for_core())
        )

    def _watch(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(0.002):
            now = time.perf_counter()
            if not self.ticks or now - self.ticks[-1][0] < self.late:
                continue
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    name = "GUI" if ident == self._main else names.get(ident, "pool")
                    self.samples.append((now, f"[{name}] {_where(frame)}"))

    def gaps(self, longer_than_ms: float = 30.0, most: int = 5) -> list[Gap]:
        """The ``most`` longest gaps over ``longer_than_ms``, with the stacks sampled then."""
        found = []
        for (t0, g0, p0, w0), (t1, g1, p1, w1) in zip(self.ticks, self.ticks[1:], strict=False):
            wall = (t1 - t0) * 1000
            if wall > longer_than_ms:
                where = Counter(s for when, s in self.samples if t0 <= when <= t1)
                found.append(
                    Gap(
                        t0,
                        wall,
                        (g1 - g0) * 1000,
                        (p1 - p0) * 1000,
                        (w1 - w0) * 1000,
                        where.most_common(4),
                    )
                )
        return sorted(found, key=lambda g: -g.wall_ms)[:most]

    def longest_ms(self, *, less_machine: bool = False) -> float:
        """The longest gap; ``less_machine``: less the time the GUI thread was runnable but
        waited for a core (other processes had both cores), so what is left is ours: its
        own work, or waiting for the GIL (a holder that itself waited for a core stays in)."""
        return max(
            (
                (b[0] - a[0] - (b[3] - a[3] if less_machine else 0.0)) * 1000
                for a, b in zip(self.ticks, self.ticks[1:], strict=False)
            ),
            default=0.0,
        )


def _waiting_for_core() -> float:
    """Seconds this thread has been runnable but not running (Linux schedstat)."""
    with SCHEDSTAT.open(encoding="ascii") as stats:
        return int(stats.read().split()[1]) / 1e9


class GilFreeDumps:
    """Every thread's stack whenever the GUI thread has not ticked for ``late_ms``, written
    by faulthandler's own C thread, which needs no GIL: it sees who holds the GIL when the
    Python watchdog cannot run. Re-armed at each tick."""

    def __init__(self, late_ms: float = 40.0) -> None:
        self.late = late_ms / 1000
        self.file = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read back in ``counted``)

    def arm(self) -> None:
        faulthandler.dump_traceback_later(self.late, file=self.file)

    def stop(self) -> None:
        faulthandler.cancel_dump_traceback_later()

    def counted(self, depth: int = 2) -> list[tuple[str, int]]:
        """The threads' innermost frames over all dumps, most frequent first."""
        self.file.seek(0)
        stacks: Counter[str] = Counter()
        thread, frames = "", []
        for line in [*self.file.read().splitlines(), ""]:
            if line.startswith(("Thread 0x", "Current thread 0x", "Timeout")) or not line:
                if thread and frames:
                    stacks[" < ".join(frames[:depth])] += 1
                thread, frames = line, []
            elif line.strip().startswith("File "):
                parts = line.strip().split('"')
                name = line.rsplit(" in ", 1)[-1]
                frames.append(f"{parts[1].rsplit('/', 1)[-1]}:{name}")
        return stacks.most_common(8)
