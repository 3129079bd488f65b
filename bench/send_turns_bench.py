"""The ``send`` command against another checkout's, taking turns: cold (a new process, as a
user runs it) for a 200-file study and for one file, and warm (sends after the first in one
process: what a warm service's command costs), with the association's data phase timed and
our turn per instance: from an answer read to the next data set's write starting.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m bench.send_turns_bench \\
        --baseline /path/to/other/checkout [--files 200] [--runs 10] [--warm 5]

``--baseline`` is a folder holding another ``desktop`` package (``git archive main desktop |
tar -x -C DIR``): its runs put it first on PYTHONPATH, with this venv. Same storescp
(``--ignore``), mutual TLS 1.3, TCP_NODELAY=1 as ``bench.send_bench``; CPU is user + system
of the process (threads included); on a shared machine the turns meet the same load.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench.send_bench import measured, storescp_scene
from bench.timing import COURIER

WARM = """
import contextlib, io, sys, time
from desktop import cli
from desktop.net.association import Association

marks, turns, answered = {}, [], [0.0]
request, release = Association.request.__func__, Association.release
response, write = Association.response, Association._write

def responded(self, *args, **kwargs):
    message = response(self, *args, **kwargs)
    answered[0] = time.perf_counter()
    return message

def written(self, data):  # the next data set's write after an answer: our turn
    if answered[0] and len(data) > 65536:
        turns.append(time.perf_counter() - answered[0])
        answered[0] = 0.0
    write(self, data)

def requested(cls, *args, **kwargs):
    association = request(cls, *args, **kwargs)
    marks["accepted"] = time.perf_counter(), time.process_time()
    return association

def released(self):
    marks["released"] = time.perf_counter(), time.process_time()
    release(self)

Association.request, Association.release = classmethod(requested), released
Association.response, Association._write = responded, written
for _ in range(int(sys.argv[2])):
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(["send", "dcmtk", sys.argv[1]])
    assert status == 0
    data = [marks["released"][i] - marks["accepted"][i] for i in (0, 1)]
    turn = sorted(turns)[len(turns) // 2] if turns else 0.0
    turns.clear()
    print("run", time.perf_counter() - wall, time.process_time() - cpu, *data, turn)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()
    with storescp_scene(args.files, "Bench^Turns", "send-turns-") as scene:
        folder, env, files = scene.folder, scene.env, scene.files
        (folder / "one").mkdir()
        shutil.copy(files[0], folder / "one" / files[0].name)
        sides = {"ours": env, "baseline": {**env, "PYTHONPATH": str(args.baseline.resolve())}}
        for target in ("study", "one"):
            send = [str(COURIER), "send", "dcmtk", str(folder / target)]
            cold: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
            for turn in range(args.runs):
                for side in sorted(sides, reverse=turn % 2 == 1):
                    cold[side].append(_cold(send, sides[side]))
            for side, values in cold.items():
                _line(f"cold {target}", side, values)
        warm: dict[str, list[list[float]]] = {side: [] for side in sides}
        for turn in range(4):
            for side in sorted(sides, reverse=turn % 2 == 1):
                output = subprocess.run(
                    [sys.executable, "-c", WARM, str(folder / "study"), str(args.warm)],
                    env=sides[side],
                    capture_output=True,
                    text=True,
                    cwd="/",
                    check=True,
                ).stdout
                runs = [list(map(float, line.split()[1:])) for line in output.splitlines()]
                warm[side] += runs[1:]  # after the first: imports and key derived
        for side, rows in warm.items():
            _line("warm study", side, [(r[0], r[1]) for r in rows])
            _line("  its data phase", side, [(r[2], r[3]) for r in rows])
            turn = statistics.median(r[4] for r in rows) * 1e6
            print(f"  {'answer to next write':<14} {side:<9} median {turn:6.0f} us")
    print(f"load average: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


def _cold(send: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU of one send, run from / (no checkout's folder first on the path)."""
    wall, cpu, _ = measured(
        lambda: subprocess.run(send, env=env, capture_output=True, text=True, cwd="/")
    )
    return wall, cpu


def _line(label: str, side: str, values: list[tuple[float, float]]) -> None:
    walls, cpus = [w for w, _ in values], [c for _, c in values]
    print(
        f"{label:<16} {side:<9} wall {min(walls):6.3f} s (median {statistics.median(walls):6.3f})"
        f"  CPU {min(cpus):6.3f} s (median {statistics.median(cpus):6.3f})  n={len(values)}"
    )


if __name__ == "__main__":
    main()
