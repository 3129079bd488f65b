"""Serving retrieves: our listener against DCMTK's dcmqrscp, both serving the same files.

    .venv/bin/python -m bench.retrieve_bench [--files 200] [--runs 3] [--only C-MOVE]

200 CT images of 512x512x16 bits (0.5 MB), loopback, plain TCP (dcmqrscp 3.6.7 has no TLS),
DCMTK with TCP_NODELAY=1 in its environment. C-MOVE: ``movescu`` asks the archive to move the
study to a ``storescp`` (a configured node of ours, a host table entry of dcmqrscp's) that
writes every file. C-GET: ``getscu`` retrieves the study into an empty folder. The archives
take turns round after round; best of the runs each (and the median).

Wall time on a shared machine says as much about the other processes as about the archives,
so each retrieve's CPU seconds are counted too (means of the runs): the archive's (our
listener's threads: the process less the thread that runs the tools; dcmqrscp with the
child it forks for the association, once it has reaped it), the destination's (storescp)
and the requestor's (movescu, getscu).
"""

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pydicom

from bench.scratch import scratch_folder
from bench.timing import ct_series, timed
from desktop.connect import node_connector
from desktop.core.config import Node, add_node
from desktop.core.store import Store
from desktop.core.store.importing import import_media
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.keystore import Keystore
from desktop.serving import cached_connectors, query_retrieve
from tests.helpers import require_tool
from tests.peers import (
    LOOPBACK,
    dcmqrscp_config,
    dcmqrscp_load,
    free_port,
    running,
    storescp_plain_command,
)

DESTINATION = "DCMTK_SCP"


def emptied(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()


def retrieve(tool: str, archive: str, port: int, study: str, *options: str) -> Callable[[], None]:
    """One ``movescu`` or ``getscu`` run of the study from ``archive`` at ``port``."""
    command = [
        require_tool(tool),
        "-S",
        "-aet",
        "BENCH",
        "-aec",
        archive,
        *options,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={study}",
        LOOPBACK,
        str(port),
    ]

    def action() -> None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode:
            raise RuntimeError(f"{tool} failed: {result.stderr}")

    return action


def process_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and of the children it has reaped (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def settled(pid: int) -> float:
    """``process_cpu`` once it stops growing: dcmqrscp reaps its association's child within a
    second of its end, and only then is the child's CPU counted."""
    value, end = process_cpu(pid), time.monotonic() + 5
    while time.monotonic() < end:
        time.sleep(1.2)
        latest = process_cpu(pid)
        if latest == value:
            break
        value = latest
    return value


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(
    action: Callable[[], None], archive_pid: int | None, destination_pid: int | None
) -> tuple[float, float, float, float]:
    """Wall seconds of ``action``, and the CPU seconds of the archive (``archive_pid``, or
    our listener's threads when None), of the destination and of the requestor."""
    pids = [p for p in (archive_pid, destination_pid) if p is not None]
    before = [process_cpu(p) for p in pids]
    requestor, ours, main_thread = children_cpu(), time.process_time(), time.thread_time()
    seconds = timed(action)
    listener = time.process_time() - ours - (time.thread_time() - main_thread)
    requestor = children_cpu() - requestor
    after = [settled(p) - b for p, b in zip(pids, before, strict=True)]
    archive = after.pop(0) if archive_pid is not None else listener
    return seconds, archive, after[0] if after else 0.0, requestor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only", choices=("C-MOVE", "C-GET"), help="one service alone (for a profiler)"
    )
    args = parser.parse_args()
    os.environ["TCP_NODELAY"] = "1"  # every DCMTK process started from here
    folder = scratch_folder()
    files = ct_series(folder / "study", args.files, "Bench^Retrieve")
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    megabytes = sum(f.stat().st_size for f in files) / 2**20
    received, got = folder / "storescp", folder / "getscu"
    store_port, qr_port = free_port(), free_port()
    home = folder / "home"
    add_node(home, Node("bench destination", DESTINATION, LOOPBACK, store_port))
    keystore = Keystore(home, lambda new: "unused: plain nodes only")
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(Store(folder / "inbox"))
        for _ in import_media(store, [folder / "study"]):
            pass
        services = query_retrieve(
            store, home, cached_connectors(lambda node: node_connector(node, keystore))
        )
        settings = ListenerSettings("COURIER", LOOPBACK, 0, store.folder)
        listener = StorageListener(settings, lambda record: None, services=services).start()
        stack.callback(listener.stop)
        config = dcmqrscp_config(
            folder / "qr", qr_port, ae_title="QRSCP", hosts=[(DESTINATION, store_port)]
        )
        dcmqrscp_load(config, files)
        qr = stack.enter_context(
            running([require_tool("dcmqrscp"), "-c", config], qr_port, folder / "qr.log")
        )
        received.mkdir()
        scp = stack.enter_context(
            running(storescp_plain_command(received, store_port), store_port, folder / "scp.log")
        )
        archives = {
            "dcmqrscp": ("QRSCP", qr_port, qr.pid),
            "our listen": ("COURIER", listener.port, None),
        }
        services = [
            (service, tool, options, out, destination)
            for service, tool, options, out, destination in (
                ("C-MOVE", "movescu", ("-aem", DESTINATION), received, scp.pid),
                ("C-GET", "getscu", ("-od", str(got)), got, None),
            )
            if args.only in (None, service)
        ]
        walls: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for _ in range(args.runs):  # interleaved: each round measures every archive once
            for label, (title, port, pid) in archives.items():
                for service, tool, options, out, destination in services:
                    emptied(out)
                    action = retrieve(tool, title, port, study, *options)
                    seconds, *used = measured(action, pid, destination)
                    count = len(list(out.iterdir()))
                    if count != len(files):
                        raise RuntimeError(f"{label} {service}: {count} of {len(files)} arrived")
                    key = (service, label)
                    walls.setdefault(key, []).append(seconds)
                    cpu.setdefault(key, []).append((used[0], used[1], used[2]))
    load = os.getloadavg()[0]
    print(
        f"{len(files)} files, {megabytes:.0f} MB, best (median) of {args.runs}, TCP_NODELAY=1, "
        f"plain, load average {load:.1f}; CPU seconds per retrieve, mean of the runs"
    )
    best = {key: min(times) for key, times in walls.items()}
    median = {key: statistics.median(times) for key, times in walls.items()}
    for (service, label), seconds in best.items():
        archive, destination, requestor = (
            sum(column) / len(column) for column in zip(*cpu[(service, label)], strict=True)
        )
        print(
            f"{service:<6} from {label:<10} {seconds:6.2f} s ({median[(service, label)]:.2f})"
            f"  {len(files) / seconds:6.0f} files/s  {megabytes / seconds:5.0f} MB/s"
            f"  CPU: archive {archive:.3f}"
            + (f"  storescp {destination:.3f}" if service == "C-MOVE" else "")
            + f"  {'movescu' if service == 'C-MOVE' else 'getscu'} {requestor:.3f}"
        )
    for service, *_ in services:
        ratio = best[(service, "dcmqrscp")] / best[(service, "our listen")]
        typical = median[(service, "dcmqrscp")] / median[(service, "our listen")]
        ours, theirs = (
            sum(run[0] for run in cpu[(service, label)]) for label in ("our listen", "dcmqrscp")
        )
        print(
            f"{service}: our listen {ratio:.2f}x dcmqrscp (target >= 1.0x; medians "
            f"{typical:.2f}x); archive CPU {theirs / ours:.2f}x"
        )


if __name__ == "__main__":
    main()
