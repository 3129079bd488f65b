"""Serving retrieves: our listener against DCMTK's dcmqrscp, both serving the same files.

    .venv/bin/python -m bench.retrieve_bench [--files 200] [--runs 3]

200 CT images of 512x512x16 bits (0.5 MB), loopback, plain TCP (dcmqrscp 3.6.7 has no TLS),
DCMTK with TCP_NODELAY=1 in its environment. C-MOVE: ``movescu`` asks the archive to move the
study to a ``storescp`` (a configured node of ours, a host table entry of dcmqrscp's) that
writes every file. C-GET: ``getscu`` retrieves the study into an empty folder. The archives
take turns round after round; best of the runs each.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pydicom

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["TCP_NODELAY"] = "1"  # every DCMTK process started from here
    folder = Path(tempfile.mkdtemp())
    files = ct_series(folder / "study", args.files, "Bench^Retrieve")
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    megabytes = sum(f.stat().st_size for f in files) / 2**20
    received, got = folder / "storescp", folder / "getscu"
    store_port, qr_port = free_port(), free_port()
    home = folder / "home"
    add_node(home, Node("bench destination", DESTINATION, LOOPBACK, store_port))
    keystore = Keystore(home, lambda new: "unused: plain nodes only")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
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
        stack.enter_context(
            running([require_tool("dcmqrscp"), "-c", config], qr_port, folder / "qr.log")
        )
        received.mkdir()
        stack.enter_context(
            running(storescp_plain_command(received, store_port), store_port, folder / "scp.log")
        )
        archives = {"dcmqrscp": ("QRSCP", qr_port), "our listen": ("COURIER", listener.port)}
        best: dict[tuple[str, str], float] = {}
        for _ in range(args.runs):  # interleaved: each round measures every archive once
            for label, (title, port) in archives.items():
                for service, tool, options, out in (
                    ("C-MOVE", "movescu", ("-aem", DESTINATION), received),
                    ("C-GET", "getscu", ("-od", str(got)), got),
                ):
                    emptied(out)
                    seconds = timed(retrieve(tool, title, port, study, *options))
                    count = len(list(out.iterdir()))
                    if count != len(files):
                        raise RuntimeError(f"{label} {service}: {count} of {len(files)} arrived")
                    key = (service, label)
                    best[key] = min(best.get(key, seconds), seconds)
    print(f"{len(files)} files, {megabytes:.0f} MB, best of {args.runs}, TCP_NODELAY=1, plain")
    for (service, label), seconds in best.items():
        print(
            f"{service:<6} from {label:<10} {seconds:6.2f} s  {len(files) / seconds:6.0f} files/s"
            f"  {megabytes / seconds:5.0f} MB/s"
        )
    for service in ("C-MOVE", "C-GET"):
        ratio = best[(service, "dcmqrscp")] / best[(service, "our listen")]
        print(f"{service}: our listen {ratio:.2f}x dcmqrscp (target >= 1.0x)")


if __name__ == "__main__":
    main()
