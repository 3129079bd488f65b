"""Sending over TLS: our send against DCMTK's storescu, to the same storescp, in one run.

    .venv/bin/python -m bench.transfer_bench [--files 200] [--only startup]

200 CT images of 512x512x16 bits (0.5 MB), one association, loopback, TLS 1.3, mutual
certificates. storescp ignores the data (--ignore) when it measures senders, and stores it
(as our listener does) when it is the reference for our listener. "TCP_NODELAY=1" is set for
both DCMTK ends (storescp and storescu), as a tuned DCMTK runs.

The whole command as a user runs it, in a new process each time: ``dicom-courier send``
against ``storescu``, ``dicom-courier --version``, and the start-up before the first byte of
``echo`` and ``send`` reaches the peer (a socket that only times the first byte).
``--only startup`` measures these start-up rows alone (no DCMTK peer, a few seconds), each
the best and the median of ``--runs``; ``--baseline OTHER/.venv/bin/dicom-courier`` runs
another checkout's in turn with ours (the same load for both) and gives the ratios.
"""

import argparse
import os
import resource
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.scratch import scratch_folder
from bench.timing import COURIER, add_tls_node, courier, ct_series, timed
from desktop.commands.transfer import items_from
from desktop.connect import listener_tls, node_connector
from desktop.core.config import Node
from desktop.core.media import open_media
from desktop.net.runner import parallel_store
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.net.store import Peer, StoreOutcome
from desktop.security.tls import Profile
from tests.helpers import node_add
from tests.peers import free_port, running, storescp_tls_command, storescu_tls
from tests.pki import Pki, build_pki, trusting_keystore

PASSWORD = "benchmark keystore password"


def storescu(pki: Pki, port: int, files: list[Path], env: dict[str, str]) -> None:
    result = storescu_tls(pki, port, files, called="DCMTK_SCP", env=env)
    if result.returncode:
        raise RuntimeError(f"storescu failed: {result.stderr}")


def first_byte(
    env: dict[str, str],
    command: str,
    *arguments: object,
    tls: bool = True,
    executable: Path = COURIER,
) -> float:
    """Seconds from starting ``dicom-courier COMMAND NODE ...`` to its first byte on the wire
    (to a socket that reads one byte; the process is then killed). Over TLS that byte is the
    ClientHello (a send opens its connection while it reads its media); to a plain node it
    is the A-ASSOCIATE-RQ, which a send makes once its job is queued."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        node = f"first-byte-{server.getsockname()[1]}"
        if tls:
            add_tls_node(env, node, "ANY", server.getsockname()[1])
        else:
            courier(env, *node_add(node, "ANY", server.getsockname()[1]))
        start = time.perf_counter()
        process = subprocess.Popen(
            [executable, command, node, *map(str, arguments)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        connection, _ = server.accept()
        with connection:
            connection.recv(1)
            elapsed = time.perf_counter() - start
        process.kill()
        process.wait()
    return elapsed


def startup(
    user: dict[str, str], study: Path, runs: int, executable: Path = COURIER
) -> dict[str, list[float]]:
    """The start-up rows of ``executable``, each a list of ``runs`` wall times (a new
    process each)."""
    version = [executable, "--version"]
    measures: dict[str, Callable[[], float]] = {
        "dicom-courier --version": partial(
            timed, partial(subprocess.run, version, env=user, capture_output=True, check=True)
        ),
        "echo: start-up to first byte": partial(first_byte, user, "echo", executable=executable),
        "send: start-up to first byte": partial(
            first_byte, user, "send", study, executable=executable
        ),
        "send: start-up to A-ASSOCIATE-RQ": partial(
            first_byte, user, "send", study, tls=False, executable=executable
        ),
    }
    return {label: [measure() for _ in range(runs)] for label, measure in measures.items()}


def startup_against(user: dict[str, str], study: Path, runs: int, baseline: Path) -> None:
    """The start-up rows of ours and of another ``dicom-courier`` (another checkout's venv),
    run after run in turn, so that both meet the same load: each, and their ratio."""
    ours: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    for _ in range(runs):
        for times, executable in ((ours, COURIER), (theirs, baseline)):
            for label, seconds in startup(user, study, 1, executable).items():
                times.setdefault(label, []).extend(seconds)
    print("ours:")
    print_startup(ours)
    print(f"baseline {baseline}:")
    print_startup(theirs)
    for label in ours:
        ratio = statistics.median(theirs[label]) / statistics.median(ours[label])
        print(f"{label:<38} baseline / ours, medians: {ratio:4.2f}x")


def print_startup(times: dict[str, list[float]]) -> None:
    for label, seconds in times.items():
        print(f"{label:<38} best {min(seconds):5.3f} s  median {statistics.median(seconds):5.3f} s")


def child_cpu(action: Callable[[], object]) -> float:
    """CPU seconds (user + system) of the processes ``action`` runs and waits for: what a
    command costs whatever else the machine is doing."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    action()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only", choices=("startup",), help="the start-up rows alone (no DCMTK peer needed)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DICOM_COURIER",
        help="with --only startup: also another dicom-courier (such as main's "
        ".venv/bin/dicom-courier), in turn with ours",
    )
    args = parser.parse_args()
    run(args, scratch_folder())


def run(args: argparse.Namespace, folder: Path) -> None:
    (folder / "pki").mkdir()
    (folder / "stored").mkdir()
    pki = build_pki(folder / "pki")
    keystore = trusting_keystore(folder / "home", pki, PASSWORD, {"courier": "server"})
    files = ct_series(folder / "study", args.files, "Bench^Send")
    user = {
        **os.environ,
        "DICOM_COURIER_HOME": str(folder / "home"),
        "DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD,
        "TCP_NODELAY": "1",
    }
    if args.only == "startup":
        print(f"{len(files)} files, {args.runs} runs")
        if args.baseline:
            startup_against(user, folder / "study", args.runs, args.baseline)
        else:
            print_startup(startup(user, folder / "study", args.runs))
        print(f"load average during the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        return
    items, _ = items_from([open_media(folder / "study")], None, None)
    megabytes = sum(f.stat().st_size for f in files) / 2**20
    results: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def ours(port: int, parallel: int = 1) -> None:
        node = Node("b", "DCMTK_SCP", "127.0.0.1", port, tls=True, identity="courier")
        connector = node_connector(node, keystore)
        outcomes = [
            r
            for r in parallel_store(connector, Peer("DCMTK_SCP", "US"), items, parallel)
            if isinstance(r, StoreOutcome)
        ]
        assert all(o.ok for o in outcomes) and len(outcomes) == len(files)

    for label, environment in (("as shipped", {}), ("TCP_NODELAY=1", {"TCP_NODELAY": "1"})):
        port = free_port()
        command = storescp_tls_command(pki, folder, port)
        command.insert(1, "--ignore")
        dcmtk = {**os.environ, **environment}
        with running(command, port, folder / f"storescp-{port}.log", env=dcmtk):
            results[f"ours -> storescp ({label})"] = timed(partial(ours, port), args.runs)
            results[f"ours, 2 associations ({label})"] = timed(partial(ours, port, 2), args.runs)
            results[f"storescu -> storescp ({label})"] = timed(
                partial(storescu, pki, port, files, dcmtk), args.runs
            )
            if environment:
                add_tls_node(user, "dcmtk", "DCMTK_SCP", port)
                send = partial(courier, user, "send", "dcmtk", folder / "study")
                results["dicom-courier send (command)"] = timed(send, args.runs)
                cpu["storescu"] = min(
                    child_cpu(partial(storescu, pki, port, files, dcmtk)) for _ in range(args.runs)
                )
                cpu["dicom-courier send"] = min(child_cpu(send) for _ in range(args.runs))
    started = startup(user, folder / "study", args.runs)
    results.update({label: min(seconds) for label, seconds in started.items()})

    port = free_port()  # storescp storing its files, as our listener does
    with running(
        storescp_tls_command(pki, folder / "stored", port),
        port,
        folder / "storing.log",
        env={**os.environ, "TCP_NODELAY": "1"},
    ):
        results["storescu -> storescp (storing)"] = timed(
            partial(storescu, pki, port, files, {**os.environ, "TCP_NODELAY": "1"}), args.runs
        )
    settings = ListenerSettings("DCMTK_SCP", "127.0.0.1", 0, folder / "inbox")
    settings.tls_context, acceptor = listener_tls(keystore, "courier", Profile.BCP195_ND)
    listener = StorageListener(settings, lambda record: None, acceptor).start()
    results["storescu -> our listen"] = timed(
        lambda: storescu(pki, listener.port, files, {**os.environ, "TCP_NODELAY": "1"}), args.runs
    )
    listener.stop()

    print(f"{len(files)} files, {megabytes:.0f} MB, best of {args.runs} runs")
    for label, seconds in results.items():
        print(
            f"{label:<38} {seconds:6.2f} s  {len(files) / seconds:7.0f} files/s  "
            f"{megabytes / seconds:6.0f} MB/s"
        )
    pairs = (
        ("ours -> storescp (as shipped)", "storescu -> storescp (as shipped)", 8),
        ("ours -> storescp (TCP_NODELAY=1)", "storescu -> storescp (TCP_NODELAY=1)", 1.0),
        ("dicom-courier send (command)", "storescu -> storescp (TCP_NODELAY=1)", 1.0),
        ("storescu -> our listen", "storescu -> storescp (storing)", 1.0),
    )
    for ours_label, theirs_label, target in pairs:
        ratio = results[theirs_label] / results[ours_label]
        print(f"{ours_label} vs {theirs_label}: {ratio:.2f}x (target >= {target}x)")
    print_startup(started)
    for label, seconds in cpu.items():
        print(f"CPU of the sending process, {label:<20} {seconds:6.2f} s")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
