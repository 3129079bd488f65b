"""Settings ▸ Inbox listener with its controller alone, by typing into the dialog: our
listener starts where it was told, DCMTK's storescu sends it a file, the Inbox hears of it;
unticked, it stops."""

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from desktop.app import Services
from desktop.core.config import Node, add_node
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.ui.inbox_controller import InboxController
from desktop.ui.main_window import MainWindow
from desktop.ui.shell import Shell
from tests.helpers import require_tool
from tests.peers import LOOPBACK, free_port
from tests.ui.clicking import press_ok, trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.sending import receiving


def test_the_listener_starts_as_typed_receives_and_stops(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    statuses: list[str],
    tmp_path: Path,
) -> None:
    import subprocess

    controller = receiving(qtbot, shell)
    assert controller.inbox is None and shell.services.listener is None
    port = free_port()

    def listen(dialog: QDialog) -> None:
        qtbot.mouseClick(dialog.enabled, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
        dialog.ae_title.clear()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.ae_title, "MY_INBOX")  # type: ignore[attr-defined]
        dialog.port.lineEdit().selectAll()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.port.lineEdit(), str(port))  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", listen)
    controller.edit_inbox()
    assert statuses[-1] == f"Inbox listening as MY_INBOX on port {port} (plain)"
    [sent] = write_files(
        tmp_path / "out", (StudySpec("P", "In^Box", "20240101", "s", (SeriesSpec("CT", "a", 1),)),)
    )
    storescu = [require_tool("storescu"), "-aec", "MY_INBOX", LOOPBACK, str(port), sent]
    subprocess.run([str(a) for a in storescu], check=True, capture_output=True, timeout=30)
    qtbot.waitUntil(lambda: statuses[-1].startswith("Inbox received"), timeout=10000)
    assert len(list(shell.services.inbox.rglob("*.dcm"))) == 1

    def stop(dialog: QDialog) -> None:
        qtbot.mouseClick(dialog.enabled, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", stop)
    controller.edit_inbox()
    assert controller.inbox is None and shell.services.listener is None
    assert statuses[-1] == "Inbox listener stopped"
    restarted = InboxController(shell, controller.sources)
    assert restarted.inbox is None  # remembered: no listener next start


def test_the_dialog_and_the_inbox_tab_say_whether_the_listener_runs(
    qtbot,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    prompter: ScriptedPrompter,
) -> None:
    window = MainWindow(Services(tmp_path / "home", lambda new: "a password"), prompter=prompter)
    qtbot.addWidget(window)
    window.show()
    window.sources.setCurrentWidget(window.sources.inbox)
    assert window.sources.listener.text().startswith("Listener off")
    port = free_port()
    seen: list[bool] = []

    def turn_on(dialog: QDialog) -> None:
        seen.append(dialog.enabled.isChecked())  # type: ignore[attr-defined]
        qtbot.mouseClick(dialog.enabled, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
        dialog.port.lineEdit().selectAll()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.port.lineEdit(), str(port))  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)

    prompter.answer("run", turn_on)
    trigger(window, "Inbox listener…")
    assert seen == [False]  # nothing listened: the box was not ticked
    assert window.sources.listener.text() == f"Listening as COURIER on {port} (plain)"
    qtbot.waitUntil(lambda: not window.sources.inbox.progress.isVisible(), timeout=10000)

    def look(dialog: QDialog) -> None:
        seen.append(dialog.enabled.isChecked())  # type: ignore[attr-defined]
        dialog.reject()

    prompter.answer("run", look)
    trigger(window, "Inbox listener…")
    assert seen == [False, True]
    window.services.stop_inbox()


def test_an_identity_no_peer_accepts_as_a_server_is_refused_in_the_dialog(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    """Tester's F11: a client-only certificate started a TLS listener every peer refused
    ("unsupported certificate"); the dialog now says why beside the field and stays open."""
    from desktop.security.pki import make_ca, make_leaf

    bundle = tmp_path / "client-only.p12"
    bundle.write_bytes(make_leaf("desk.test", make_ca("Desk CA"), server=False).pkcs12("pw"))
    window.services.keystore.import_identity("desk-client", bundle, file_password="pw")
    port, said = free_port(), []

    def choose(dialog: QDialog) -> None:
        assert dialog.enabled.isChecked()  # type: ignore[attr-defined]  # the demo's runs
        dialog.port.lineEdit().selectAll()  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.port.lineEdit(), str(port))  # type: ignore[attr-defined]
        dialog.identity.setCurrentText("desk-client")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)
        assert dialog.isVisible()  # refused: still open
        said.append(dialog.problem.text())  # type: ignore[attr-defined]
        dialog.identity.setCurrentText("demo-pacs")  # type: ignore[attr-defined]
        press_ok(qtbot, dialog)
        assert not dialog.isVisible()

    prompter.answer("run", choose)
    trigger(window, "Inbox listener…")
    assert "identity 'desk-client' cannot serve TLS" in said[0] and "serverAuth" in said[0]
    assert window.sources.listener.text().endswith(f"on {port} (TLS, identity demo-pacs)")
    assert not prompter.errors
    window.services.stop_inbox()


def test_a_study_uid_already_held_for_another_patient_is_a_warning_in_the_log(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    tmp_path: Path,
) -> None:
    """G19: the Inbox's listener kept such a study apart and said so only in Python's log;
    the Log now says it in words (not a record dumped), and the history keeps it; a C-MOVE
    by that study UID alone is refused and said in words too."""
    import subprocess

    from desktop.app import InboxSettings

    controller = receiving(qtbot, shell)
    port = free_port()
    assert controller.apply_inbox(InboxSettings("MY_INBOX", port), save=False)
    spec = (SeriesSpec("CT", "a", 1),)
    [first] = write_files(tmp_path / "a", (StudySpec("P1", "A^A", "20240101", "s", spec),))
    [second] = write_files(tmp_path / "b", (StudySpec("OTHER-42", "B^B", "20240101", "s", spec),))
    from pydicom import dcmread

    study = dcmread(first).StudyInstanceUID
    other = dcmread(second)
    other.StudyInstanceUID = study
    other.save_as(second)
    for sent in (first, second):
        storescu = [require_tool("storescu"), "-aec", "MY_INBOX", LOOPBACK, str(port), sent]
        subprocess.run([str(a) for a in storescu], check=True, capture_output=True, timeout=30)
    said = f"study {study} received for patient OTHER-42 is already held for patient P1: "

    def warned() -> bool:
        return any(e.level == "warning" and e.summary.startswith(said) for e in shell.log.entries)

    refused = f"study {study} is held for 2 patients (OTHER-42, P1): refused, so that no "

    def refusal() -> bool:
        return any(
            e.level == "warning" and e.summary.startswith(refused) for e in shell.log.entries
        )

    try:
        qtbot.waitUntil(warned, timeout=10000)
        # A C-MOVE by that study UID alone is refused, and the Log says why in words.
        add_node(shell.services.home, Node("dest", "DEST", LOOPBACK, free_port()))
        move = [require_tool("movescu"), "-aec", "MY_INBOX", "-aem", "DEST", "-S"]
        move += ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]
        done = subprocess.run([*move, LOOPBACK, str(port)], capture_output=True, timeout=30)
        assert done.returncode != 0
        qtbot.waitUntil(refusal, timeout=10000)
    finally:
        controller.apply_inbox(None, save=False)
    [kept] = [r for r in shell.services.history.read() if r["event"] == "study-of-two-patients"]
    assert kept["warning"].startswith(said) and kept["calling"] == "STORESCU"
    [moved] = [r for r in shell.services.history.read() if r["event"] == "retrieve-answered"]
    assert moved["status"] == 0xC000 and moved["failure"].startswith(refused)
