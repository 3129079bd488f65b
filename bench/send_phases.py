"""``dicom-courier ARGS`` as the entry point runs it, noting when each phase of a send is
reached; the marks are printed (``phase NAME SECONDS CPU``) as the command returns.

    BENCH_START=<time.monotonic() of the parent> python -m bench.send_phases send NODE PATH

Seconds count from ``BENCH_START`` (the parent's clock just before it started this process:
CLOCK_MONOTONIC is one clock for all processes), else from this module's start. The marks
wrap a few seams of the send with a timer (a call each, nothing per byte); the imports they
need are the command's own, made a little earlier.
"""

import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

START = float(os.environ.get("BENCH_START") or time.monotonic())
MARKS: dict[str, tuple[float, float]] = {}


def mark(name: str, *, again: bool = False) -> None:
    """Note the time ``name`` happened and the CPU the process had used by then (its first
    time, or its last when ``again``)."""
    if again or name not in MARKS:
        MARKS[name] = (time.monotonic() - START, time.process_time())


def timing(
    owner: Any, attribute: str, before: str = "", after: str = "", *, again: bool = False
) -> None:
    """Mark ``before`` as ``owner.attribute`` is called and ``after`` as it returns."""
    function: Callable[..., Any] = getattr(owner, attribute)

    @wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if before:
            mark(before, again=again)
        result = function(*args, **kwargs)
        if after:
            mark(after, again=again)
        return result

    setattr(owner, attribute, timed)


_instrumented: list[bool] = []


def instrument() -> None:
    """Wrap the send's seams with marks (once: a warm service's parsers, built before its
    fork, hold the wrapped command)."""
    if _instrumented:
        return
    _instrumented.append(True)
    import desktop.commands.transfer as transfer
    import desktop.connect as connect
    import desktop.core.media as media
    from desktop.net.association import Association
    from desktop.net.queue import TransferQueue

    timing(transfer, "_send", "command runs")
    timing(connect, "open_tls", after="TLS handshake done")
    timing(connect.ConnectingAhead, "ready", after="connector ready")
    timing(media, "open_media", "media scan starts", "media read")
    timing(TransferQueue, "hashed", after="files hashed")
    timing(TransferQueue, "enqueued", after="job queued")
    timing(Association, "request", after="association accepted")
    for sending in ("send_framed", "send_file"):  # read ahead in one write, or streamed
        if hasattr(Association, sending):
            timing(Association, sending, after="first data set sent")
            timing(Association, sending, after="last data set sent", again=True)
    timing(Association, "release", after="association released")


def main() -> int:
    mark("interpreter up, bench module runs")
    from desktop import cli

    instrument()
    mark("imports of the send done")
    sys.argv[0] = "dicom-courier"
    status = cli.main()  # as the console script calls it (the exit frozen)
    mark("command returned")
    for name, (seconds, cpu) in sorted(MARKS.items(), key=lambda item: item[1]):
        print(f"phase {name} {seconds:.4f} {cpu:.4f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
