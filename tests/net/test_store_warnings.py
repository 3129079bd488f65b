"""A peer that stores an instance with a warning (0xB000 coercion, 0xB006 elements discarded,
0xB007 not matching its SOP class): the job counts it stored, and the send, `queue show`
and `--json` say the warning (tester's F6: "done, sent 12 of 12" and nothing else)."""

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.helpers import cli, node_add
from tests.net.conftest import make_study
from tests.peers import pynetdicom_scp

COUNT = 5
WARNINGS = {1: 0xB006, 2: 0xB000, 3: 0xB000}  # by Instance Number; the others: success


def _answer(dataset: Dataset) -> int:
    return WARNINGS.get(int(dataset.InstanceNumber), 0)


def test_stored_with_a_warning_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = make_study(tmp_path / "study", count=COUNT, rows=8)
    with pynetdicom_scp(_answer) as (port, received):
        assert cli(capsys, *node_add("archive", "PYNET_SCP", port))[0] == 0
        status, out, err = cli(capsys, "send", "archive", tmp_path / "study")
    assert len(received) == COUNT
    assert status == 0, (out, err)  # stored: the job is done
    [discarded] = [p for p in paths if int(pydicom.dcmread(p).InstanceNumber) == 1]
    assert "job 1 to archive: done, sent 5 of 5; the peer stored 3 of them with a warning" in out, (
        out
    )
    assert (
        f"WARNING {discarded}: stored, but archive answered warning: elements discarded (0xB006)"
        in out
    ), out
    assert (
        "WARNING job 1 to archive: 2 instance(s) stored, but archive answered warning: "
        "coercion of data elements (0xB000)"
    ) in out, out

    status, shown, _ = cli(capsys, "queue", "show", "1")
    assert status == 0
    lines = [line for line in shown.splitlines() if "  sent" in line]
    assert len(lines) == COUNT, shown
    assert sum("elements discarded (0xB006)" in line for line in lines) == 1, shown
    assert sum("coercion of data elements (0xB000)" in line for line in lines) == 2, shown
    assert sum(line.endswith("  sent") for line in lines) == COUNT - len(WARNINGS), shown

    status, listed, _ = cli(capsys, "queue", "show", "1", "--json")
    report = json.loads(listed)
    assert (report["sent"], report["stored_with_warning"], report["state"]) == (5, 3, "done")
    messages = sorted(i["message"] for i in report["instances"] if "warning" in i["message"])
    assert messages == [
        "warning: coercion of data elements (0xB000)",
        "warning: coercion of data elements (0xB000)",
        "warning: elements discarded (0xB006)",
    ]
