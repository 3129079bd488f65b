"""Certificates ▸ Remove of an identity: the question says its private key goes for good and
names what uses it (tester's G10: "Nodes using it stop working", none named)."""

from desktop.demo import DEMO_NODE, Demo
from desktop.ui.main_window import MainWindow
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter


def _select(window: MainWindow, name: str) -> None:
    table = window.certificates.table
    [row] = [r for r in range(table.rowCount()) if table.item(r, 1).text() == name]
    table.selectRow(row)


def test_removing_an_identity_names_what_uses_it(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    panel = window.certificates
    window.tabs.setCurrentWidget(panel)
    _select(window, "demo-workstation")  # the demo PACS node presents it
    prompter.answer("confirm", False)
    click(qtbot, button(panel, "Remove"))
    assert prompter.questions[-1] == (
        "Remove identity demo-workstation from the keystore? Its private key is deleted for "
        "good (only its certificate can be exported). What uses it stops working: node "
        f"{DEMO_NODE}."
    )
    assert (demo.home / "keystore" / "identities" / "demo-workstation.p12").exists()
    _select(window, "demo-pacs")  # no node presents it
    prompter.answer("confirm", True)
    click(qtbot, button(panel, "Remove"))
    assert prompter.questions[-1] == (
        "Remove identity demo-pacs from the keystore? Its private key is deleted for good "
        "(only its certificate can be exported)."
    )
    assert not (demo.home / "keystore" / "identities" / "demo-pacs.p12").exists()
