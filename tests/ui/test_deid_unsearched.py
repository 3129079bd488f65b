"""De-identify… with the pixels left as they are (the default): the summary names each copy
whose image may still show the patient's name (ultrasound, screen captures), and says how to
mask it; copies of a CT series get no such warning."""

from pathlib import Path

from desktop.demo import Demo
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.deidentify import PIXELS
from tests.burned_in import write_samples
from tests.ui.clicking import trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_deid_action import answer_deid_without_pixels
from tests.ui.test_stories import no_unexpected_errors, open_media, select_the_ct_series


def de_identify(qtbot, window: MainWindow, prompter: ScriptedPrompter, out: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """File ▸ De-identify… of the selection, pixels left as they are: the summary's message and
    its list."""
    summary = answer_deid_without_pixels(qtbot, prompter, out)
    trigger(window, "De-identify…")
    qtbot.waitUntil(lambda: bool(summary), timeout=60000)
    return summary


def test_copies_whose_pixels_may_show_the_name_are_named_in_the_summary(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    burned = tmp_path / "burned"
    write_samples(burned, 2, seed=3)  # an ultrasound cine and a secondary capture
    open_media(qtbot, window, prompter, burned)
    window.browser.view.selectAll()
    text, listed = de_identify(qtbot, window, prompter, tmp_path / "copies")
    assert text.startswith("2 de-identified copies written"), text
    assert "2 of them may hold burned-in text" in text
    assert PIXELS["auto"] in text  # what to do about it
    lines = listed.splitlines()
    assert len(lines) == 2 and all("may hold burned-in text" in line for line in lines)
    assert {Path(line.split(":")[0]).name for line in lines} == {p.name for p in burned.iterdir()}
    assert any("modality US" in line for line in lines)
    assert any("Secondary Capture" in line for line in lines)
    no_unexpected_errors(prompter)


def test_a_ct_series_gets_no_burned_in_warning(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    tmp_path: Path,
) -> None:
    select_the_ct_series(qtbot, window, prompter, demo)
    text, listed = de_identify(qtbot, window, prompter, tmp_path / "copies")
    assert "may hold burned-in text" not in text and not listed, (text, listed)
    no_unexpected_errors(prompter)
