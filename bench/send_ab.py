"""Two installations' warm send, alternating against one storescp, with storescu beside.

    python -m bench.send_ab VENV_A VENV_B [--runs 16] [--files 200]

Each installation (a virtual environment with ``dicom-courier``, e.g. main's and a branch's)
gets a home of its own (the same keystore and node) and a warm service started unlocked; each
run sends the same study through A and B (in turn first) and then ``storescu``, so that
what slows the machine slows all three. Prints best and median of each, B against A and
storescu against each (medians compare best on a busy machine).
"""

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from bench.send_bench import handed_over, storescp_scene, warm_service
from tests.peers import storescu_tls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path, help="installation A (a virtual environment)")
    parser.add_argument("b", type=Path, help="installation B")
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    with storescp_scene(args.files, "Bench^Send", "send-ab-") as scene:
        shutil.copytree(scene.folder / "home", scene.folder / "home-b")
        envs = {
            "A": scene.env,
            "B": {**scene.env, "DICOM_COURIER_HOME": str(scene.folder / "home-b")},
        }
        courier = {"A": args.a / "bin/dicom-courier", "B": args.b / "bin/dicom-courier"}
        walls: dict[str, list[float]] = {"A": [], "B": [], "storescu": []}
        cpus: dict[str, list[float]] = {"A": [], "B": []}
        with warm_service(envs["A"], courier["A"]), warm_service(envs["B"], courier["B"]):
            for run in range(args.runs):
                for name in "AB" if run % 2 == 0 else "BA":
                    send = [str(courier[name]), "send", "dcmtk", str(scene.folder / "study")]
                    wall, cpu = handed_over(send, envs[name])
                    walls[name].append(wall)
                    cpus[name].append(cpu)
                start = time.perf_counter()
                storescu_tls(scene.pki, scene.port, scene.files, called="DCMTK_SCP", env=scene.env)
                walls["storescu"].append(time.perf_counter() - start)
    print(f"{args.files} files, {args.runs} alternating runs (A {args.a}, B {args.b})")
    for name, values in walls.items():
        print(f"{name:9} wall best {min(values):.3f} s, median {statistics.median(values):.3f} s")
    for name, values in cpus.items():
        print(f"{name:9} CPU  best {min(values):.3f} s, median {statistics.median(values):.3f} s")
    middle = {name: statistics.median(values) for name, values in walls.items()}
    best = {name: min(values) for name, values in walls.items()}
    faster, steadier = best["A"] / best["B"], middle["A"] / middle["B"]
    print(f"B against A: {faster:.3f}x best, {steadier:.3f}x median")
    for name in "AB":
        print(
            f"{name} against storescu: {best['storescu'] / best[name]:.2f}x best, "
            f"{middle['storescu'] / middle[name]:.2f}x median"
        )
    print(f"load average during the runs: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
