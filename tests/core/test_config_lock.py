"""Configuration changes from parallel processes: each one's read, change and write happen
under the configuration's lock, so none is lost."""

import os
import subprocess
import sys
from pathlib import Path

from desktop.core.config import load_config

NODE_ADD = (sys.executable, "-m", "desktop.cli", "node", "add")


def test_parallel_node_adds_keep_every_node(tmp_path: Path) -> None:
    environment = {**os.environ, "DICOM_COURIER_HOME": str(tmp_path / "home")}
    adds = [
        subprocess.Popen(
            [
                *NODE_ADD,
                f"node-{n}",
                "--ae",
                f"AE{n}",
                "--host",
                "127.0.0.1",
                "--port",
                str(11000 + n),
            ],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n in range(8)
    ]
    outputs = [add.communicate(timeout=120)[0].decode() for add in adds]
    assert [add.returncode for add in adds] == [0] * 8, outputs
    nodes = load_config(tmp_path / "home").nodes
    assert sorted(nodes) == [f"node-{n}" for n in range(8)]
    assert {nodes[f"node-{n}"].port for n in range(8)} == {11000 + n for n in range(8)}
