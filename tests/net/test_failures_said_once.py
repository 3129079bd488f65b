"""Instances a peer refuses for good are each said once by `send` (its FAILED line), not
also as a warning while it runs (tester's F16, item 4: 2512 lines for 1256 files); a
failure that will be tried again is still warned of as it happens."""

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from tests.helpers import cli, node_add
from tests.net.conftest import make_study
from tests.peers import pynetdicom_scp

COUNT = 4


def test_each_final_failure_is_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = make_study(tmp_path / "study", count=COUNT, rows=8)
    answers = iter([0xA700] + [0xA900] * COUNT)  # the first: out of resources, then refused

    def refuse(dataset: Dataset) -> int:
        return next(answers)

    with pynetdicom_scp(refuse) as (port, received):
        assert cli(capsys, *node_add("archive", "PYNET_SCP", port))[0] == 0
        status, out, err = cli(capsys, "send", "archive", tmp_path / "study", "--attempts", "2")
    assert status == 1 and len(received) == COUNT + 1
    warnings = [line for line in err.splitlines() if line.startswith("dicom-courier: warning")]
    assert len(warnings) == 1 and "refused: out of resources (0xA700)" in warnings[0], err
    for path in paths:
        assert out.count(f"FAILED {path}: ") == 1, out
    assert "sent 0 of 4, 4 failed" in out, out
