"""A damaged config.json: every malformed shape gives one line naming the node and field, for
the command line and the GUI (which starts and shows it)."""

import json
from pathlib import Path

import pytest

from tests.helpers import cli

BROKEN = [
    ([], "is not a JSON object: []"),
    ({"version": 1, "nodes": {"X": {}}}, 'nodes must be a list, not {"X": {}}'),
    ({"version": 1, "nodes": ["X"]}, 'node #1 is not an object: "X"'),
    ({"version": 1, "nodes": [{"name": "X"}]}, "node 'X' has no ae_title, host, port"),
    (
        {"version": 1, "nodes": [{"name": "X", "ae_title": "A", "host": "h", "port": "notanint"}]},
        "node 'X': port must be a whole number, not \"notanint\"",
    ),
    (
        {
            "version": 1,
            "nodes": [{"name": "X", "ae_title": "A", "host": "h", "port": 104, "tls": "yes"}],
        },
        "node 'X': tls must be true or false, not \"yes\"",
    ),
    (
        {"version": 1, "nodes": [{"name": "X", "ae_title": "A", "host": "h", "port": 0}]},
        "node 'X': ",
    ),
]


@pytest.mark.parametrize(("content", "message"), BROKEN)
def test_each_damage_is_one_line_naming_node_and_field(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: object,
    message: str,
) -> None:
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(content))
    status, out, err = cli(capsys, "node", "list")
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("dicom-courier: the configuration "), err
    assert message in err
