"""The GUI's browser on media holding one hostile file among fifty good ones."""

from pathlib import Path

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.ui.widgets.browser import BrowserPanel
from tests.core.crafted import identity, nested_sequences, odd_charset_study, part10

GOOD = StudySpec("P50", "Good^Fifty", "20240101", "Fifty", (SeriesSpec("CT", "a", count=50),))


def test_one_hostile_file_among_fifty_is_one_problem(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_files(tmp_path, (GOOD,))
    (tmp_path / "nested.dcm").write_bytes(part10(identity() + nested_sequences(500)))
    panel = BrowserPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        panel.open_path(tmp_path)
    assert panel.model.rowCount() == 1
    patient = panel.model.item(0, 5)
    assert patient.text() == "50"  # the Images column of the only patient
    assert panel.problems_button.text().endswith("1 problem(s)")
    assert panel.tree is not None
    [problem] = panel.tree.problems
    assert problem.path.name == "nested.dcm" and "nested deeper than 64" in problem.reason


def test_an_odd_character_set_is_each_files_problem_not_a_warning(  # type: ignore[no-untyped-def]
    qtbot, recwarn, tmp_path: Path
) -> None:
    odd_charset_study(tmp_path)
    panel = BrowserPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        panel.open_path(tmp_path)
    assert panel.problems_button.text().endswith("2 problem(s)")
    assert panel.tree is not None
    assert {p.reason for p in panel.tree.problems} == {
        "unknown Specific Character Set 'ISO_IR 999'; its text is read as Latin-1 (ISO_IR 100)"
    }
    assert [str(w.message) for w in recwarn] == []
