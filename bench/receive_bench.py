"""Receiving over TLS: DCMTK's storescu sending to our listener and to storescp, in one run.

    .venv/bin/python -m bench.receive_bench [--files 200] [--runs 3] [--profile]

200 CT images of 512x512x16 bits (0.5 MB), one association, loopback, TLS 1.3, mutual
certificates, DCMTK with TCP_NODELAY=1 at both ends (storescu and storescp read it from the
environment). Both receivers write every file to disk; storescp does not fsync, so our
listener is measured without (``--no-fsync``) and with fsync (its default). Each run starts
with an empty inbox. ``--profile`` prints where our listener's association threads spend
their CPU time (cProfile).
"""

import argparse
import contextlib
import cProfile
import os
import pstats
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.scratch import scratch_folder
from bench.timing import ct_series
from desktop.connect import listener_tls
from desktop.net import receiver
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.tls import Profile
from tests.peers import free_port, running, storescp_tls_command, storescu_tls
from tests.pki import build_pki, trusting_keystore

PASSWORD = "benchmark keystore password"


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float


def process_cpu(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(action: Callable[[], object], reset: Callable[[], object], pid: int) -> Run:
    """One run: wall seconds, and the receiving process's CPU seconds."""
    reset()
    cpu, start = process_cpu(pid), time.perf_counter()
    action()
    return Run(time.perf_counter() - start, process_cpu(pid) - cpu)


def empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.name != ".incoming":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def profiled_runs() -> cProfile.Profile:
    """Profile every association thread of our listener from now on, in CPU time (on a busy
    machine wall time mostly measures waiting for a core)."""
    profile = cProfile.Profile(time.thread_time)
    original = receiver.Association.run

    def run(self: Any) -> None:
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    receiver.Association.run = run  # type: ignore[method-assign]
    return profile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ["TCP_NODELAY"] = "1"  # storescu's end; storescp inherits it too
    folder = scratch_folder()
    (folder / "pki").mkdir()
    pki = build_pki(folder / "pki")
    keystore = trusting_keystore(folder / "home", pki, PASSWORD, {"courier": "server"})
    files = ct_series(folder / "study", args.files, "Bench^Receive")
    megabytes = sum(f.stat().st_size for f in files) / 2**20

    def send(port: int) -> Callable[[], None]:
        def action() -> None:
            result = storescu_tls(pki, port, files, called="DCMTK_SCP")
            if result.returncode or "Store Failed" in result.stderr:
                raise RuntimeError(f"storescu failed: {result.stderr}")

        return action

    profile = profiled_runs() if args.profile else None
    stored = folder / "storescp"
    stored.mkdir()
    port = free_port()
    receivers: dict[str, tuple[int, Path, int]] = {}
    with contextlib.ExitStack() as stack:
        storescp = stack.enter_context(
            running(storescp_tls_command(pki, stored, port), port, folder / "storescp.log")
        )
        receivers["storescp"] = (port, stored, storescp.pid)
        for label, fsync in (("our listen --no-fsync", False), ("our listen (fsync)", True)):
            settings = ListenerSettings(
                "DCMTK_SCP", "127.0.0.1", 0, folder / f"inbox-{fsync}", fsync=fsync
            )
            settings.tls_context, acceptor = listener_tls(keystore, "courier", Profile.BCP195_ND)
            listener = StorageListener(settings, lambda record: None, acceptor).start()
            stack.callback(listener.stop)
            receivers[label] = (listener.port, settings.out, os.getpid())
        runs: dict[str, list[Run]] = {label: [] for label in receivers}
        for _ in range(args.runs):  # interleaved: each round measures every receiver once
            for label, (port, out, pid) in receivers.items():
                runs[label].append(measure(send(port), partial(empty, out), pid))

    print(
        f"storescu ->, {len(files)} files, {megabytes:.0f} MB, best of {args.runs}, TCP_NODELAY=1"
    )
    best = {label: min(r.wall for r in measured) for label, measured in runs.items()}
    cpu = {label: min(r.cpu for r in measured) for label, measured in runs.items()}
    for label, seconds in best.items():
        print(
            f"{label:<24} {seconds:6.2f} s  {len(files) / seconds:6.0f} files/s  "
            f"{megabytes / seconds:5.0f} MB/s  receiver CPU {cpu[label]:.2f} s"
        )
    for label in list(best)[1:]:
        print(
            f"{label}: {best['storescp'] / best[label]:.2f}x storescp in time (target >= 1.0x), "
            f"{cpu[label] / cpu['storescp']:.2f}x its CPU"
        )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
