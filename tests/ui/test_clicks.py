"""Controls clicked as a person clicks them: the slot gets what Qt passes (a ``checked`` flag),
dialogs are answered through the prompter, typed into field by field."""

from PySide6.QtWidgets import QDialog

from desktop.core.audit.store import AuditLog
from desktop.core.config import load_config
from desktop.demo import DEMO_NODE, Demo
from desktop.ui.main_window import MainWindow
from tests.pki import KEY_PASSWORD, Pki
from tests.ui.clicking import button, click, press_ok
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import edit_the_demo_node


def test_import_ca_and_identity_by_clicking(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    pki: Pki,
) -> None:
    panel = window.certificates
    window.tabs.setCurrentWidget(panel)
    before = panel.table.rowCount()
    prompter.answer("open_file", pki.path("bundle"))
    click(qtbot, button(panel, "Import CA…"))
    assert panel.table.rowCount() == before + 2  # the root and the intermediate
    prompter.answer("open_file", pki.path("client"), pki.path("client", ".key"))
    prompter.answer("text", KEY_PASSWORD, "hospital-it")
    click(qtbot, button(panel, "Import identity…"))
    names = [panel.table.item(r, 1).text() for r in range(panel.table.rowCount())]
    assert "hospital-it" in names
    asked = [kind for kind, _ in prompter.asked]
    assert asked == ["open_file", "open_file", "open_file", "text", "text"]


def test_edit_node_by_clicking_keeps_its_name_or_renames(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    def new_port(dialog: QDialog) -> None:
        dialog.port.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.port, "11999")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    def rename(dialog: QDialog) -> None:
        dialog.name.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.name, "Renamed PACS")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    edit_the_demo_node(qtbot, window, prompter, new_port)
    assert load_config(demo.home).nodes[DEMO_NODE].port == 11999
    prompter.answer("run", rename)
    click(qtbot, button(window.nodes, "Edit…"))
    assert list(load_config(demo.home).nodes) == ["Renamed PACS"]
    assert window.nodes.item_for("Renamed PACS") is not None


def test_the_node_dialog_says_what_is_wrong_in_place_and_keeps_the_typing(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
) -> None:
    seen: dict[str, object] = {}

    def fill(dialog: QDialog) -> None:
        for field, text in (("name", "Radiology"), ("ae_title", "A" * 17), ("host", "pacs.lan")):
            qtbot.keyClicks(getattr(dialog, field), text)
        press_ok(qtbot, dialog)
        seen["open"] = dialog.isVisible()
        seen["problem"] = dialog.problem.text()  # type: ignore[attr-defined]
        seen["marked"] = dialog.ae_title.styleSheet()  # type: ignore[attr-defined]
        seen["kept"] = (dialog.name.text(), dialog.host.text())  # type: ignore[attr-defined]
        dialog.ae_title.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.ae_title, "RADIOLOGY")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", fill)
    click(qtbot, button(window.nodes, "Add…"))
    assert seen["open"] is True and "1 to 16 printable ASCII" in str(seen["problem"])
    assert "c0392b" in str(seen["marked"]) and seen["kept"] == ("Radiology", "pacs.lan")
    assert load_config(demo.home).nodes["Radiology"].ae_title == "RADIOLOGY"
    assert window.nodes.item_for("Radiology") is not None


def test_import_and_remove_a_crl_by_clicking_audited_as_the_cli(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    trail: AuditLog,
    pki: Pki,
) -> None:
    panel = window.certificates
    window.tabs.setCurrentWidget(panel)
    prompter.answer("open_file", pki.path("bundle"), pki.path("intermediate", ".crl"))
    click(qtbot, button(panel, "Import CA…"))
    click(qtbot, button(panel, "Import CRL…"))
    [row] = [r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == "CRL"]
    cells = [panel.table.item(row, c).text() for c in range(6)]
    assert cells[3] == "CN=Test Intermediate CA,O=DICOM Courier"
    assert cells[2].startswith("revokes 1 certificate(s); this update 20")
    assert cells[4][:2] == "20" and cells[5] == ""
    panel.table.selectRow(row)
    prompter.answer("confirm", True)
    click(qtbot, button(panel, "Remove"))
    assert "Remove the revocation list of CN=Test Intermediate CA" in prompter.questions[-1]
    assert all(panel.table.item(r, 0).text() != "CRL" for r in range(panel.table.rowCount()))
    assert not list((demo.home / "crls").glob("*.pem"))
    alerts = [e.summary for e in trail.entries() if e.event == "110113"]
    imported, removed = alerts[-2:]
    assert "imported CRL of CN=Test Intermediate CA,O=DICOM Courier: 1 revoked" in imported
    assert "removed CRL of CN=Test Intermediate CA,O=DICOM Courier: 1 revoked" in removed
    assert not prompter.errors
