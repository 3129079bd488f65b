"""Across a slow link: ``send --compress auto`` against DCMTK's storescu sending uncompressed.

    .venv/bin/python -m bench.wan_bench [--files 200] [--runs 1]     (as root: ip netns, tc)

The bench makes a network namespace of its own, sets its loopback to MTU 1500 (tc's token
bucket stalls on 64 KB loopback frames) and shapes it with ``tc qdisc ... tbf`` at 100 and
20 Mbit/s, then unlimited. Inside it DCMTK's ``storescp +xt`` (accepts JPEG-LS lossless,
stores what it receives) listens over mutual TLS 1.3; ``storescu`` and ``dicom-courier send``
(a new process each, as a user runs them) send it the same 200 CT slices of 512x512x16 bits
(air, body, fat, lungs, spine, noise: desktop/core/synthetic.py; they compress like CT).
TCP_NODELAY=1 is set for both DCMTK ends, as a tuned DCMTK runs. The namespace is deleted
at the end. Encode speed and ratio of each codec are measured first, on this machine's cores.
Each case runs once (``--runs``), the unlimited one best of 5 at least (it takes seconds);
the senders take turns run by run, so a change of the machine's load hits each alike.
``--trace`` (needs tcpdump) runs storescu and ``send --compress auto`` once more each under
tcpdump and says where the link idled (bench/wire.py).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench import wire
from bench.scratch import scratch_folder
from bench.timing import add_tls_node, courier, ct_series
from desktop.net.compression import BY_NAME, pack
from desktop.net.pipeline import Ahead, Job
from tests.peers import free_port, running, storescp_tls_command, storescu_tls
from tests.pki import Pki, build_pki, trusting_keystore

PASSWORD = "benchmark keystore password"
RATES = ("100mbit", "20mbit", "unlimited")
TARGETS = {"100mbit": 2.0, "20mbit": 2.5}  # auto against storescu
LOOPBACK_TARGET = 0.9  # auto against our own uncompressed send


def encode_speeds(files: list[Path]) -> list[str]:
    """Per codec: the ratio, ms per slice on one core, and slices/s on every core (packed
    ahead, as a send does)."""
    lines = []
    for name, codec in BY_NAME.items():
        sizes, start = [], time.perf_counter()
        for path in files:
            packed = pack(str(path), 0, "", codec.syntax)
            assert packed.data is not None, packed.note
            sizes.append((packed.source_bytes, len(packed.data)))
        one = (time.perf_counter() - start) / len(files)
        ahead = Ahead({i: Job(str(p), 0, "") for i, p in enumerate(files)}, codec, auto=False)
        start = time.perf_counter()
        for position in range(len(files)):
            packed, _ = ahead.take(position)
            assert packed is not None and packed.data is not None
        every = len(files) / (time.perf_counter() - start)
        ahead.close()
        ratio = sum(s for s, _ in sizes) / sum(c for _, c in sizes)
        pool = "threads" if codec.threads else "processes"
        lines.append(
            f"{name:<20} ratio {ratio:4.2f}:1  {one * 1000:6.1f} ms/slice on one core  "
            f"{every:6.1f} slices/s on {ahead.workers} {pool} (spawn included)"
        )
    return lines


def netns(namespace: str, *command: object) -> None:
    subprocess.run(["ip", "netns", "exec", namespace, *map(str, command)], check=True)


def shape(namespace: str, rate: str) -> None:
    """Loopback of the namespace at MTU 1500, limited to ``rate`` (or not at all)."""
    subprocess.run(
        ["ip", "netns", "exec", namespace, "tc", "qdisc", "del", "dev", "lo", "root"],
        capture_output=True,
    )
    if rate != "unlimited":
        netns(
            namespace,
            "tc",
            "qdisc",
            "add",
            "dev",
            "lo",
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "64kb",
            "latency",
            "200ms",
        )


def outer(args: argparse.Namespace) -> None:
    if args.trace and shutil.which("tcpdump") is None:
        raise SystemExit("--trace needs tcpdump: apt-get install tcpdump")
    measure(args, scratch_folder("wan-bench-"))


def measure(args: argparse.Namespace, folder: Path) -> None:
    (folder / "pki").mkdir()
    pki = build_pki(folder / "pki")
    trusting_keystore(folder / "home", pki, PASSWORD, {"courier": "client"})
    files = ct_series(folder / "study", args.files, "Bench^Wan")
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    print(
        f"{len(files)} CT slices, {megabytes:.0f} MB; load average {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores)"
    )
    if args.encode:
        for line in encode_speeds(files[: args.encode]):
            print(line)
    namespace = f"courier-wan-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        netns(namespace, "ip", "link", "set", "lo", "mtu", "1500", "up")
        for rate in args.rates.split(","):
            shape(namespace, rate)
            result = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    namespace,
                    sys.executable,
                    "-m",
                    "bench.wan_bench",
                    "--inside",
                    folder,
                    "--rate",
                    rate,
                    "--runs",
                    str(args.runs),
                    *(["--trace"] if args.trace else []),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                raise RuntimeError(f"{rate}: {result.stdout}{result.stderr}")
            report(rate, json.loads(result.stdout.splitlines()[-1]), megabytes)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def report(rate: str, seconds: dict[str, Any], megabytes: float) -> None:
    print(f"\n{rate}:")
    for label in ("storescu (uncompressed)", "send --compress none", "send --compress auto"):
        if label not in seconds:
            continue
        value = float(seconds[label])
        every = ", ".join(f"{run:.2f}" for run in seconds[f"all {label}"])
        print(
            f"  {label:<26} {value:6.2f} s  {megabytes * 8 / value:6.1f} Mbit/s of source"
            f"  (runs: {every})"
        )
    print(f"  auto chose: {seconds['auto said'] or 'nothing compressed'}")
    for label, lines in seconds.items():
        if label.startswith("wire of "):
            print(f"  {label} (one more run, under tcpdump):")
            print("\n".join(f"    {line}" for line in lines))
    against, said, target = (
        ("storescu (uncompressed)", "storescu", TARGETS[rate])
        if rate in TARGETS
        else ("send --compress none", "our uncompressed send", LOOPBACK_TARGET)
    )
    best = float(seconds[against]) / float(seconds["send --compress auto"])
    middle = statistics.median(seconds[f"all {against}"]) / statistics.median(
        seconds["all send --compress auto"]
    )
    print(
        f"  auto vs {said}: {best:.2f}x best against best, {middle:.2f}x median against median "
        f"(target >= {target}x)"
    )


@dataclass(frozen=True)
class PkiFiles:
    """The PKI that the outer process made, as the peers' helpers read it: by file name."""

    folder: Path

    def path(self, stem: str, suffix: str = ".pem") -> Path:
        return self.folder / f"{stem}{suffix}"


def inside(args: argparse.Namespace) -> None:
    """The runs of one rate, in the namespace: storescp, then each sender; JSON on stdout."""
    folder = Path(args.inside)
    pki = cast(Pki, PkiFiles(folder / "pki"))
    files = sorted(p for p in (folder / "study").rglob("*") if p.is_file())
    stored = folder / f"stored-{args.rate}"
    stored.mkdir()
    port = free_port()
    tuned = {**os.environ, "TCP_NODELAY": "1"}
    user = {
        **tuned,
        "DICOM_COURIER_HOME": str(folder / "home"),
        "DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD,
    }
    command = storescp_tls_command(pki, stored, port)
    command.insert(1, "+xt")
    results: dict[str, Any] = {}
    with running(command, port, folder / f"storescp-{args.rate}.log", env=tuned):
        node = f"wan-{args.rate}"
        add_tls_node(user, node, "DCMTK_SCP", port)

        def storescu() -> str:
            done = storescu_tls(pki, port, files, called="DCMTK_SCP", env=tuned)
            if done.returncode:
                raise RuntimeError(f"storescu failed: {done.stderr}")
            return ""

        def send(mode: str) -> Callable[[], str]:
            return lambda: courier(user, "send", node, folder / "study", "--compress", mode)

        senders = {"storescu (uncompressed)": storescu}
        if args.rate != "20mbit":  # 45 s more, and no target depends on it
            senders["send --compress none"] = send("none")
        senders["send --compress auto"] = send("auto")
        runs = args.runs if args.rate != "unlimited" else max(args.runs, 5)
        for _ in range(runs):  # the senders take turns: a change of load hits each alike
            for label, action in senders.items():
                for old in stored.iterdir():
                    old.unlink()
                start = time.perf_counter()
                output = action()
                seconds = time.perf_counter() - start
                arrived = len(list(stored.iterdir()))
                if arrived != len(files):
                    raise RuntimeError(f"{label}: {arrived} of {len(files)} files arrived")
                if seconds < results.get(label, float("inf")) and label.endswith("auto"):
                    results["auto said"] = " ".join(
                        line for line in output.splitlines() if line.startswith("compressed")
                    )
                results[label] = min(seconds, results.get(label, float("inf")))
                results.setdefault(f"all {label}", []).append(round(seconds, 2))
        if args.trace:
            for label, action in (("storescu", storescu), ("send --compress auto", send("auto"))):
                for old in stored.iterdir():
                    old.unlink()
                bits = {"100mbit": 100e6, "20mbit": 20e6}.get(args.rate, 0.0)
                capture = folder / f"{args.rate}.pcap"
                results[f"wire of {label}"] = traced(capture, port, action, bits)
    print(json.dumps(results))


def traced(capture: Path, port: int, action: Callable[[], str], rate: float) -> list[str]:
    """``action`` run once under tcpdump: where its connection idled on the wire."""
    command = ["tcpdump", "-i", "lo", "-U", "-B", "16384", "-s", "128", "-w", str(capture)]
    dump = subprocess.Popen(
        [*command, "tcp", "port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert dump.stderr is not None
    dump.stderr.readline()  # "listening on lo": it captures from now on
    try:
        launched = time.time()
        action()
        ended = time.time()
    finally:
        size = -1
        while size != capture.stat().st_size:  # a busy tcpdump lags behind: let it catch up
            size = capture.stat().st_size
            time.sleep(0.5)
        dump.terminate()
        dump.wait()
    return wire.read(capture, port).summary(launched, ended, rate)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--encode", type=int, default=20, help="slices to time each codec on")
    parser.add_argument(
        "--rates", default=",".join(RATES), help=f"links to run, of {','.join(RATES)}"
    )
    parser.add_argument(
        "--trace", action="store_true", help="one more run of each sender under tcpdump: idle time"
    )
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    parser.add_argument("--rate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
    else:
        outer(args)


if __name__ == "__main__":
    main()
