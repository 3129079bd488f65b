"""Settings ▸ Listener access, by clicking its buttons and typing into its dialogs: entries
added (one bound to a client certificate picked from its file), checked in place, edited,
ticked and removed; saved where ``dicom-courier access`` saves them; and a running TLS
listener applies the edit to DCMTK's findscu from the next association, without a restart."""

import subprocess

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from desktop.app import InboxSettings
from desktop.core.config import load_config, set_listener_access
from desktop.ui.shell import Shell
from desktop.ui.widgets.access_list import ANYONE
from desktop.ui.widgets.dialogs import INVALID
from tests.helpers import cli, require_tool
from tests.peers import LOOPBACK, dcmtk_client_tls, free_port
from tests.pki import Pki, trusting_keystore
from tests.ui.clicking import button, click, press_ok
from tests.ui.scripted import ScriptedPrompter
from tests.ui.sending import receiving


def client_fingerprint(pki: Pki) -> str:
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(pki.client.certificate.public_bytes(Encoding.DER)).hexdigest()


def findscu(pki: Pki, port: int, calling: str) -> subprocess.CompletedProcess[str]:
    """A study-level C-FIND over TLS with the PKI's client certificate."""
    command = [
        require_tool("findscu"),
        *dcmtk_client_tls(pki),
        *("-S", "-aet", calling, "-aec", "COURIER", "-k", "QueryRetrieveLevel=STUDY"),
        *(LOOPBACK, str(port)),
    ]
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=60, check=False
    )


def typed(qtbot, dialog: QDialog, title: str, fingerprint: str = "") -> None:  # type: ignore[no-untyped-def]
    """Type a title (and a pasted fingerprint) into the entry dialog."""
    dialog.ae_title.clear()  # type: ignore[attr-defined]
    qtbot.keyClicks(dialog.ae_title, title)  # type: ignore[attr-defined]
    dialog.fingerprint.clear()  # type: ignore[attr-defined]
    qtbot.keyClicks(dialog.fingerprint, fingerprint)  # type: ignore[attr-defined]


def toggle(qtbot, dialog: QDialog, *services: str) -> None:  # type: ignore[no-untyped-def]
    """Click the services' boxes (ticked ones untick, unticked ones tick)."""
    for service in services:
        click(qtbot, dialog.boxes[service])  # type: ignore[attr-defined]


def test_the_editor_saves_the_list_and_a_running_listener_applies_it_to_findscu(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    statuses: list[str],
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = shell.services.home
    monkeypatch.setenv("DICOM_COURIER_HOME", str(home))  # the CLI's home is the GUI's
    trusting_keystore(home, pki, "a password", {"scp": "server"})
    controller = receiving(qtbot, shell)
    port = free_port()
    assert controller.apply_inbox(InboxSettings("COURIER", port, identity="scp"))
    assert findscu(pki, port, "FINDSCU").returncode == 0  # no list yet: anyone
    fingerprint = client_fingerprint(pki)
    seen: dict[str, object] = {}

    def findscu_from_its_certificate(entry: QDialog) -> None:
        typed(qtbot, entry, "FINDSCU")
        prompter.answer("open_file", pki.path("client"))
        click(qtbot, button(entry, "From certificate file…"))
        toggle(qtbot, entry, "store", "retrieve")
        press_ok(qtbot, entry)

    def modality_checked_in_place(entry: QDialog) -> None:
        typed(qtbot, entry, "BACK\\SLASH")
        press_ok(qtbot, entry)  # refused beside the field, the dialog stays
        seen["title"] = (entry.problem.text(), entry.ae_title.styleSheet())  # type: ignore[attr-defined]
        typed(qtbot, entry, "MODALITY", "12:34")
        press_ok(qtbot, entry)
        seen["fingerprint"] = (entry.problem.text(), entry.fingerprint.styleSheet())  # type: ignore[attr-defined]
        typed(qtbot, entry, "MODALITY")
        toggle(qtbot, entry, "store", "query", "retrieve")
        press_ok(qtbot, entry)
        seen["services"] = entry.problem.text()  # type: ignore[attr-defined]
        toggle(qtbot, entry, "store")
        press_ok(qtbot, entry)
        seen["accepted"] = entry.result() == QDialog.DialogCode.Accepted

    def add_both(editor: QDialog) -> None:
        seen["empty"] = editor.anyone.isVisibleTo(editor)  # type: ignore[attr-defined]
        prompter.answer("run", findscu_from_its_certificate, modality_checked_in_place)
        click(qtbot, button(editor, "Add…"))
        click(qtbot, button(editor, "Add…"))
        seen["rows"] = [
            [editor.table.item(r, c).text() for c in (0, 1)]  # type: ignore[attr-defined]
            for r in range(editor.table.rowCount())  # type: ignore[attr-defined]
        ]
        press_ok(qtbot, editor)

    prompter.answer("run", add_both)
    controller.edit_access()
    assert seen["empty"] is True
    assert seen["title"] == (
        "the AE title 'BACK\\\\SLASH' must be 1 to 16 printable ASCII characters, not only "
        "spaces, without backslash",
        INVALID,
    )
    assert "'12:34' is not a certificate's SHA-256 fingerprint" in str(seen["fingerprint"])
    assert INVALID in str(seen["fingerprint"])
    assert "grant at least one of store, query, retrieve" in str(seen["services"])
    assert seen["accepted"] is True
    short = f"{fingerprint[:8]}…{fingerprint[-8:]}"
    assert seen["rows"] == [["FINDSCU", short], ["MODALITY", "any certificate (not bound)"]]
    # Saved where `dicom-courier access` saves it, and listed by it.
    entries = [f"FINDSCU={fingerprint}/query", "MODALITY/store"]
    assert load_config(home).listener_access == entries
    assert cli(capsys, "access", "list")[1].split() == entries
    assert statuses[-1] == (
        "Listener access saved (2 allowed caller entries); the listener applies it from its "
        "next association"
    )
    # The listener, not restarted, applies it: FINDSCU with its certificate may query,
    # MODALITY may not.
    assert findscu(pki, port, "FINDSCU").returncode == 0
    refused = findscu(pki, port, "MODALITY")
    assert refused.returncode != 0 and "No Acceptable Presentation Contexts" in refused.stderr

    def edit_and_remove(editor: QDialog) -> None:
        table = editor.table  # type: ignore[attr-defined]
        prompter.answer(
            "run", lambda entry: (toggle(qtbot, entry, "query"), press_ok(qtbot, entry))
        )
        table.selectRow(1)
        click(qtbot, button(editor, "Edit…"))  # MODALITY may store and query now
        table.selectRow(0)
        click(qtbot, button(editor, "Remove"))  # FINDSCU may do nothing
        table.item(0, 4).setCheckState(Qt.CheckState.Checked)  # ... and MODALITY retrieve
        press_ok(qtbot, editor)

    prompter.answer("run", edit_and_remove)
    controller.edit_access()
    assert load_config(home).listener_access == ["MODALITY"]  # store, query and retrieve
    removed = findscu(pki, port, "FINDSCU")
    assert removed.returncode != 0 and "Association Rejected" in removed.stderr
    assert findscu(pki, port, "MODALITY").returncode == 0


def test_removing_the_last_entry_says_anyone_may_connect(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    statuses: list[str],
) -> None:
    set_listener_access(shell.services.home, ["VIEWER/query"])
    controller = receiving(qtbot, shell)
    shown: list[bool] = []

    def remove(editor: QDialog) -> None:
        editor.table.selectRow(0)  # type: ignore[attr-defined]
        click(qtbot, button(editor, "Remove"))
        shown.append(editor.anyone.isVisibleTo(editor))  # type: ignore[attr-defined]
        shown.append(editor.anyone.text() == ANYONE)  # type: ignore[attr-defined]
        press_ok(qtbot, editor)

    prompter.answer("run", remove)
    controller.edit_access()
    assert shown == [True, True]
    assert load_config(shell.services.home).listener_access == []
    assert statuses[-1] == (
        "Listener access saved (anyone may connect); the listener applies it when it starts"
    )


def test_a_ticked_box_left_with_no_service_is_refused_and_nothing_saved(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
) -> None:
    set_listener_access(shell.services.home, ["VIEWER/query"])
    controller = receiving(qtbot, shell)
    said: list[str] = []

    def untick_all(editor: QDialog) -> None:
        editor.table.item(0, 3).setCheckState(Qt.CheckState.Unchecked)  # type: ignore[attr-defined]
        press_ok(qtbot, editor)
        said.append(editor.problem.text())  # type: ignore[attr-defined]
        editor.reject()

    prompter.answer("run", untick_all)
    controller.edit_access()
    assert said == [
        "VIEWER: grant at least one of store, query, retrieve (to refuse a title, remove it)"
    ]
    assert load_config(shell.services.home).listener_access == ["VIEWER/query"]


def test_a_revocation_made_while_the_editor_is_open_is_never_undone(
    qtbot,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    shell: Shell,
    prompter: ScriptedPrompter,
    statuses: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tester's F15 (round 6): OK in an editor opened before `access revoke WS` wrote the
    list it had read, granting the revoked workstation again, unseen."""
    home = shell.services.home
    monkeypatch.setenv("DICOM_COURIER_HOME", str(home))
    set_listener_access(home, ["WS/query,retrieve", "CT/store"])
    controller = receiving(qtbot, shell)

    def revoked_meanwhile_then_ok(editor: QDialog) -> None:
        assert cli(capsys, "access", "revoke", "WS")[0] == 0  # IT, from a shell
        press_ok(qtbot, editor)

    def revoked_meanwhile_then_edited(editor: QDialog) -> None:
        assert cli(capsys, "access", "revoke", "VIEWER")[0] == 0
        editor.table.selectRow(0)  # type: ignore[attr-defined]
        click(qtbot, button(editor, "Remove"))
        press_ok(qtbot, editor)

    prompter.answer("run", revoked_meanwhile_then_ok, revoked_meanwhile_then_edited)
    controller.edit_access()  # nothing changed in it: nothing written
    assert load_config(home).listener_access == ["CT/store"]
    assert statuses[-1] == "Listener access unchanged"
    set_listener_access(home, ["CT/store", "VIEWER/query"])
    controller.edit_access()  # CT removed in it, VIEWER revoked meanwhile: refused, said
    assert load_config(home).listener_access == ["CT/store"]
    [(title, message, _)] = prompter.errors
    assert title == "Listener access"
    assert "changed by another program (dicom-courier access) while the editor was open" in (
        message
    )
