"""pydicom's warnings (an unknown character set ...) never reach a user's terminal raw: what
concerns a file is its problem in the tree, the rest goes to the log."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.crafted import odd_charset_study
from tests.helpers import cli

NOTE = "unknown Specific Character Set 'ISO_IR 999'; its text is read as Latin-1 (ISO_IR 100)"


def test_tree_names_the_odd_character_set_as_the_files_problem(tmp_path: Path) -> None:
    files = odd_charset_study(tmp_path / "odd")
    result = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "tree", str(tmp_path / "odd"), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DICOM_COURIER_HOME": str(tmp_path / "home")},
    )
    assert (result.returncode, result.stderr) == (0, "")
    problems = json.loads(result.stdout)["problems"]
    assert sorted(p["path"] for p in problems if p["reason"] == NOTE) == sorted(map(str, files))


def test_export_and_deid_warn_nothing_raw(
    capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder, tmp_path: Path
) -> None:
    [first, _] = odd_charset_study(tmp_path / "odd")
    status, _, err = cli(capsys, "export", first, "--png", tmp_path / "one.png")
    assert (status, err) == (0, "")
    status, _, err = cli(capsys, "export", tmp_path / "odd", "--mp4", tmp_path / "s.mp4")
    assert (status, err) == (0, "")
    status, _, err = cli(capsys, "deid", tmp_path / "odd", "--out", tmp_path / "deid")
    assert status == 0 and "Warning" not in err
    assert [str(w.message) for w in recwarn] == []


@pytest.mark.parametrize(
    ("declared", "encodings", "note"),
    [
        (["ISO_IR 100"], ["latin_1"], ""),
        (["", "ISO 2022 IR 87"], ["iso8859", "iso2022_jp"], ""),
        (["ISO_IR 999"], ["iso8859"], NOTE),
        (
            ["ISO_IR 192", "ISO 2022 IR 87"],
            ["UTF8"],
            "Specific Character Set 'ISO_IR 192' cannot be combined with 'ISO 2022 IR 87', "
            "which is ignored",
        ),
        (["", "ISO 2022 IR 99"], ["iso8859"], "unknown Specific Character Set 'ISO 2022 IR 99'"),
    ],
)
def test_character_set_terms_are_checked_without_warnings(
    recwarn: pytest.WarningsRecorder, declared: list[str], encodings: list[str], note: str
) -> None:
    from desktop.core.values import python_encodings

    assert python_encodings(declared) == (encodings, note)
    assert list(recwarn) == []
