"""Sending over TLS: our send against DCMTK's storescu, to the same storescp, in one run.

    .venv/bin/python -m bench.transfer_bench [--files 200]

200 CT images of 512x512x16 bits (0.5 MB), one association, loopback, TLS 1.3, mutual
certificates. storescp ignores the data (--ignore) when it measures senders, and stores it
(as our listener does) when it is the reference for our listener.
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from desktop.commands.transfer import items_from
from desktop.connect import listener_tls, node_connector
from desktop.core.config import Node
from desktop.core.media import open_media
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.runner import parallel_store
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.net.store import Peer, StoreOutcome
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile
from tests.peers import free_port, running, storescp_tls_command, storescu_tls
from tests.pki import KEY_PASSWORD, Pki, build_pki

PASSWORD = "benchmark keystore password"


def storescu(pki: Pki, port: int, files: list[Path]) -> None:
    result = storescu_tls(pki, port, files, called="DCMTK_SCP")
    if result.returncode:
        raise RuntimeError(f"storescu failed: {result.stderr}")


def timed(action: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    (folder / "pki").mkdir()
    (folder / "stored").mkdir()
    pki = build_pki(folder / "pki")
    keystore = Keystore(folder / "home", lambda new: PASSWORD)
    keystore.import_cas(pki.path("root-only"))
    keystore.import_identity("courier", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    study = StudySpec(
        "B",
        "Bench^Send",
        "20240101",
        "bench",
        (SeriesSpec("CT", "axial", count=args.files, rows=512, columns=512),),
    )
    files = write_files(folder / "study", (study,))
    items, _ = items_from([open_media(folder / "study")], None, None)
    megabytes = sum(f.stat().st_size for f in files) / 2**20
    results: dict[str, float] = {}

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
        with running(
            command, port, folder / f"storescp-{port}.log", env={**os.environ, **environment}
        ):
            results[f"ours -> storescp ({label})"] = timed(partial(ours, port), args.runs)
            results[f"ours, 2 associations ({label})"] = timed(partial(ours, port, 2), args.runs)
            results[f"storescu -> storescp ({label})"] = timed(
                partial(storescu, pki, port, files), args.runs
            )

    port = free_port()  # storescp storing its files, as our listener does
    with running(
        storescp_tls_command(pki, folder / "stored", port),
        port,
        folder / "storing.log",
        env={**os.environ, "TCP_NODELAY": "1"},
    ):
        results["storescu -> storescp (storing)"] = timed(
            partial(storescu, pki, port, files), args.runs
        )
    settings = ListenerSettings("DCMTK_SCP", "127.0.0.1", 0, folder / "inbox")
    settings.tls_context, acceptor = listener_tls(keystore, "courier", Profile.BCP195_ND)
    listener = StorageListener(settings, lambda record: None, acceptor).start()
    results["storescu -> our listen"] = timed(
        lambda: storescu(pki, listener.port, files), args.runs
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
        ("ours -> storescp (TCP_NODELAY=1)", "storescu -> storescp (TCP_NODELAY=1)", 0.5),
        ("storescu -> our listen", "storescu -> storescp (storing)", 0.5),
    )
    for ours_label, theirs_label, target in pairs:
        ratio = results[theirs_label] / results[ours_label]
        print(f"{ours_label} vs {theirs_label}: {ratio:.2f}x (target >= {target}x)")


if __name__ == "__main__":
    main()
