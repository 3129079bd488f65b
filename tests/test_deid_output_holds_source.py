"""`deid` refuses an output folder that holds one of its inputs (a patient's folder of a
copied CD, de-identified into the CD's root): the copies would mix with the identified
originals, which the media's DICOMDIR then no longer describes (tester's F16, item 3)."""

from pathlib import Path

import pytest

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from tests.helpers import cli

STUDY = StudySpec("PID-7", "Roe^Ann", "20240102", "MR", (SeriesSpec("MR", "t1", count=2),))


def test_an_output_holding_a_source_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    media = tmp_path / "media"
    write_files(media / "PT000002", (STUDY,))
    before = sorted(media.rglob("*"))
    status, out, err = cli(capsys, "deid", media / "PT000002", "--out", media)
    assert status == 1 and out == "", out
    assert f"{media} holds {media / 'PT000002'}, which is being de-identified" in err, err
    assert err.count("\n") == 1, err
    assert sorted(media.rglob("*")) == before  # nothing written
    status, out, err = cli(capsys, "deid", media / "PT000002", "--out", tmp_path / "copies")
    assert status == 0 and out.count("de-identified ") == 2, err
