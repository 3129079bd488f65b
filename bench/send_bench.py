"""The whole ``dicom-courier send`` against ``storescu``, and where the command's time goes.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m bench.send_bench [--files 200] [--runs 5]

200 CT images of 512x512x16 bits (0.5 MB) to DCMTK's storescp (``--ignore``) over mutual TLS
1.3 on loopback, DCMTK with TCP_NODELAY=1 at both ends. Each run starts ``storescu`` and then
``dicom-courier send`` as a user runs them (a new process each, the send making a new job in
the queue); their wall and CPU times (user + system, from the kernel) are measured alike.
The "one file" rows send the first file alone: each side's fixed costs (start-up, handshake,
association, queue, release).

The row "send, service running (unlocked)" is the same command handed to a warm service
(``service start --unlock`` in the bench's home before the runs, stopped after): its wall time
is the client's, its CPU the client's plus the forked child's (as the service counts it); a
command the service did not run (its code changed on disk during the bench) stops the bench;
"warm node list" is the fixed cost of handing a command over (connect, fork, a command that
does nothing, exit). The cold rows run with DICOM_COURIER_NO_SERVICE=1.

The phases of the command come from a second set of runs under ``bench.send_phases``, which
runs the same entry point in the same kind of process and notes the time at each phase's
first event (see there).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.timing import COURIER, add_tls_node, ct_series
from tests.peers import free_port, running, storescp_tls_command, storescu_tls
from tests.pki import Pki, build_pki, trusting_keystore

PASSWORD = "benchmark keystore password"
WARM = "send, service running (unlocked)"


def measured(action: Callable[[], subprocess.CompletedProcess[str]]) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system of the child processes) of ``action``; its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = action()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode:
        raise RuntimeError(f"{result.args[0]} failed: {result.stdout}{result.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, result.stdout


def tls_home(folder: Path) -> tuple[Pki, dict[str, str]]:
    """A PKI under ``folder``/pki, a Courier home under ``folder``/home whose keystore trusts
    its root and holds its "courier" identity, and the environment its commands run in
    (TCP_NODELAY=1 for DCMTK at both ends)."""
    (folder / "pki").mkdir()
    pki = build_pki(folder / "pki")
    trusting_keystore(folder / "home", pki, PASSWORD, {"courier": "server"})
    env = {
        **os.environ,
        "DICOM_COURIER_HOME": str(folder / "home"),
        "DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD,
        "TCP_NODELAY": "1",
    }
    return pki, env


@dataclass(frozen=True, slots=True)
class Scene:
    """A send bench's scene: its folder (the study in ``study``), PKI, home (``tls_home``'s
    environment) and files, and DCMTK's storescp listening on ``port``, node "dcmtk"."""

    folder: Path
    pki: Pki
    env: dict[str, str]
    files: list[Path]
    port: int


@contextmanager
def storescp_scene(count: int, patient: str, prefix: str) -> Iterator[Scene]:
    """``count`` CT files of ``patient`` and storescp (``--ignore``: nothing written) over
    mutual TLS, node "dcmtk" of the home, in a temporary folder removed after the block."""
    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        folder = Path(temporary)
        pki, env = tls_home(folder)
        files = ct_series(folder / "study", count, patient)
        port = free_port()
        command = storescp_tls_command(pki, folder, port)
        command.insert(1, "--ignore")
        with running(command, port, folder / "storescp.log", env=env):
            add_tls_node(env, "dcmtk", "DCMTK_SCP", port)
            yield Scene(folder, pki, env, files, port)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with storescp_scene(args.files, "Bench^Send", "send-bench-") as scene:
        folder, pki, env, files, port = scene.folder, scene.pki, scene.env, scene.files, scene.port
        megabytes = sum(f.stat().st_size for f in files) / 2**20
        send = [str(COURIER), "send", "dcmtk", str(folder / "study")]
        phases = [sys.executable, "-m", "bench.send_phases", *send[1:]]
        one = folder / "one"  # the fixed costs: one file, each way
        one.mkdir()
        shutil.copy2(files[0], one / files[0].name)
        send_one = [str(COURIER), "send", "dcmtk", str(one)]
        runs: dict[str, list[tuple[float, float]]] = {
            "storescu": [],
            "send": [],
            WARM: [],
            "warm node list": [],
            "storescu, one file": [],
            f"{WARM}, one file": [],
        }
        marks: list[dict[str, tuple[float, float]]] = []
        child: list[dict[str, tuple[float, float]]] = []
        warm_phases = [sys.executable, "-m", "bench.warm_phases", *send[1:]]
        cold = {**env, "DICOM_COURIER_NO_SERVICE": "1"}
        with warm_service(env):
            for _ in range(args.runs):
                wall, cpu, _ = measured(
                    lambda: storescu_tls(pki, port, files, called="DCMTK_SCP", env=env)
                )
                runs["storescu"].append((wall, cpu))
                wall, cpu, _ = measured(
                    lambda: subprocess.run(send, env=cold, capture_output=True, text=True)
                )
                runs["send"].append((wall, cpu))
                runs[WARM].append(handed_over(send, env))
                runs["warm node list"].append(handed_over([str(COURIER), "node", "list"], env))
                wall, cpu, _ = measured(
                    lambda: storescu_tls(pki, port, files[:1], called="DCMTK_SCP", env=env)
                )
                runs["storescu, one file"].append((wall, cpu))
                runs[f"{WARM}, one file"].append(handed_over(send_one, env))
                marks.append(_phases(phases, cold))
                child.append(_phases(warm_phases, cold))
    print(f"{len(files)} files, {megabytes:.0f} MB, {args.runs} runs (best and median)")
    for label, values in runs.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"{label:<44} wall {min(walls):5.2f} s (median {statistics.median(walls):5.2f})  "
            f"CPU {min(cpus):5.2f} s (median {statistics.median(cpus):5.2f})"
        )
    best = {label: min(w for w, _ in values) for label, values in runs.items()}
    middle = {label: statistics.median(w for w, _ in values) for label, values in runs.items()}
    for ours, theirs in (
        ("send", "storescu"),
        (WARM, "storescu"),
        (f"{WARM}, one file", "storescu, one file"),
    ):
        print(
            f"{ours} vs {theirs}: {best[theirs] / best[ours]:.2f}x best against best, "
            f"{middle[theirs] / middle[ours]:.2f}x median against median (target >= 1.0x)"
        )
    cpu = {label: min(c for _, c in values) for label, values in runs.items()}
    print(
        f"CPU: send {cpu['send']:.2f} s, warm {cpu[WARM]:.2f} s vs storescu {cpu['storescu']:.2f} s"
    )
    print("phases of the send command (medians of the runs under bench.send_phases):")
    _table(marks)
    print("phases of the warm send's child, from the fork (medians, bench.warm_phases):")
    _table([{k: v for k, v in m.items() if k != "process exited"} for m in child])
    print(f"load average during the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


def _table(marks: list[dict[str, tuple[float, float]]]) -> None:
    print(f"  {'reached':<36} {'at (s)':>7} {'+wall':>7} {'CPU by then':>12} {'+CPU':>7}")
    previous, used = 0.0, 0.0
    for name in sorted(marks[0], key=lambda n: marks[0][n]):
        at = statistics.median(m[name][0] for m in marks if name in m)
        cpu_at = statistics.median(m[name][1] for m in marks if name in m)
        print(f"  {name:<36} {at:7.3f} {at - previous:+7.3f} {cpu_at:12.3f} {cpu_at - used:+7.3f}")
        previous, used = at, cpu_at


@contextmanager
def warm_service(env: dict[str, str], courier: Path = COURIER) -> Iterator[None]:
    """A warm service of installation ``courier``, unlocked, in the bench's home for the
    block."""
    started = subprocess.run(
        [str(courier), "service", "start", "--unlock"], env=env, capture_output=True, text=True
    )
    if started.returncode:
        raise RuntimeError(f"service start failed: {started.stdout}{started.stderr}")
    try:
        yield
    finally:
        subprocess.run([str(courier), "service", "stop"], env=env, capture_output=True)


def handed_over(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of ``command`` run by the client (handed to the service), and the CPU of
    the client and of the child the service forked for it."""
    before = _service(env)
    wall, cpu, _ = measured(
        lambda: subprocess.run(command, env=env, capture_output=True, text=True)
    )
    after = _service(env)
    if after["served"] != before["served"] + 1:
        raise RuntimeError(f"{command[1:]} was not handed to the service (its code changed?)")
    return wall, cpu + after["cpu"] - before["cpu"]


def _service(env: dict[str, str]) -> dict[str, Any]:
    """The service's count of commands served and their CPU seconds, once none runs."""
    from desktop.warm.client import connect
    from desktop.warm.wire import PROTOCOL, SOCKET_NAME, STATUS, Lines, frame

    for _ in range(200):
        connection = connect(str(Path(env["DICOM_COURIER_HOME"]) / SOCKET_NAME))
        if connection is None:
            raise RuntimeError("the warm service has gone")
        with closing(connection):  # a bare _socket.socket
            connection.sendall(frame([PROTOCOL, STATUS]))
            status = json.loads(Lines(connection).next())
        if not status["running"]:
            return {"served": status["served"], "cpu": status["cpu"]}
        time.sleep(0.01)
    raise RuntimeError("the warm service's command did not end")


def _phases(command: list[str], env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """The marks ``bench.send_phases`` printed (seconds from the start of its process, CPU
    seconds used by then), and when the process had exited (with all the CPU it used)."""
    start = time.monotonic()
    timed = {**env, "BENCH_START": repr(start)}
    wall, cpu, output = measured(
        lambda: subprocess.run(command, env=timed, capture_output=True, text=True)
    )
    marks = {}
    for line in output.splitlines():
        if line.startswith("phase "):
            name, seconds, used = line.removeprefix("phase ").rsplit(" ", 2)
            marks[name] = (float(seconds), float(used))
    marks["process exited"] = (wall, cpu)
    return marks


if __name__ == "__main__":
    main()
