"""The keystore password dialog, typed into and clicked: what it unlocks, three tries, and
"remember" only where an OS keyring backend exists (a real in-memory backend stands in for the
desktop's; headless CI has none)."""

import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QDialog, QLabel

from desktop.core.audit.store import AuditLog
from desktop.demo import DEMO_NODE, Demo
from desktop.security.passwords import KEYRING_SERVICE, PASSWORD_ENV
from desktop.ui.launch import main_window
from desktop.ui.main_window import MainWindow
from desktop.ui.password import PasswordDialog
from tests.pki import KEY_PASSWORD, Pki
from tests.ui.clicking import button, click, press_ok
from tests.ui.scripted import ScriptedPrompter


class MemoryKeyring(KeyringBackend):
    """A keyring backend keeping passwords in a dict (keyring's own backend interface)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The backend keyring itself chooses when a machine has none."""
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


def start(qtbot, demo: Demo, prompter: ScriptedPrompter, monkeypatch) -> MainWindow:  # type: ignore[no-untyped-def]
    """The window as the application builds it, with no password in the environment."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    window = main_window(demo.home, prompter=prompter)
    qtbot.addWidget(window)
    window.show()
    return window


def echo(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Click Echo on the demo node (its identity needs the keystore) and let it finish."""
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    errors = len(window.prompter.errors)  # type: ignore[attr-defined]
    checked = window.checks.last(window.services.node(DEMO_NODE))
    click(qtbot, button(window.nodes, "Echo"))
    qtbot.waitUntil(
        lambda: (
            len(window.prompter.errors) > errors  # type: ignore[attr-defined]
            or window.checks.last(window.services.node(DEMO_NODE)) != checked
        ),
        timeout=20000,
    )


def type_password(qtbot, dialog: QDialog, text: str) -> str:  # type: ignore[no-untyped-def]
    """Type ``text``, press OK; what the dialog then says (empty once accepted)."""
    qtbot.keyClicks(dialog.password, text)  # type: ignore[attr-defined]
    press_ok(qtbot, dialog)
    return dialog.problem.text() if dialog.isVisible() else ""  # type: ignore[attr-defined]


def test_a_wrong_password_comes_back_with_the_tries_left_and_no_keyring_means_no_checkbox(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
    monkeypatch: pytest.MonkeyPatch,
    no_keyring: None,
) -> None:
    seen: dict[str, object] = {}

    def answer(dialog: QDialog) -> None:
        seen["text"] = " ".join(label.text() for label in dialog.findChildren(QLabel))
        seen["checkboxes"] = dialog.findChildren(QCheckBox)
        seen["first"] = type_password(qtbot, dialog, "not-the-password")
        seen["second"] = type_password(qtbot, dialog, "still-wrong")
        seen["third"] = type_password(qtbot, dialog, demo.password)

    window = start(qtbot, demo, prompter, monkeypatch)
    prompter.answer("run", answer)
    echo(qtbot, window)
    assert "keystore" in str(seen["text"]) and str(demo.home) in str(seen["text"])
    assert seen["checkboxes"] == []
    assert seen["first"] == "Wrong password, 2 tries left."
    assert seen["second"] == "Wrong password, 1 try left."
    assert seen["third"] == ""
    assert not any("password" in message for _, message, _ in prompter.errors)


def test_three_wrong_passwords_give_a_plain_error_and_the_app_goes_on(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
    monkeypatch: pytest.MonkeyPatch,
    no_keyring: None,
    trail: AuditLog,
) -> None:
    """Each wrong password is audited as 110114, failed, as the command line's are (tester's
    F17, round 6: only the eventual success was)."""

    def wrong_three_times(dialog: QDialog) -> None:
        for attempt in range(3):
            type_password(qtbot, dialog, f"wrong-{attempt}")

    window = start(qtbot, demo, prompter, monkeypatch)
    prompter.answer("run", wrong_three_times)
    echo(qtbot, window)
    assert prompter.errors[-1][:2] == (
        "Echo",
        "the keystore password was wrong 3 times: nothing was unlocked",
    )
    prompter.answer("run", lambda dialog: type_password(qtbot, dialog, demo.password))
    echo(qtbot, window)  # asked again, afresh
    assert [kind for kind, _ in prompter.asked].count("run") == 2
    assert window.services.keystore.verifies(demo.password)
    logins = [e for e in trail.entries() if e.event == "110114"]
    assert [(e.outcome, "wrong keystore password" in e.summary) for e in logins[:3]] == [
        (4, True)
    ] * 3
    assert logins[3].outcome == 0 and "unlocked keystore identity" in logins[3].summary


def test_a_remembered_password_is_used_on_the_next_start_without_asking(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    def remember(dialog: QDialog) -> None:
        [box] = dialog.findChildren(QCheckBox)
        assert box.text() == "Remember in the system keyring" and not box.isChecked()
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
        type_password(qtbot, dialog, demo.password)

    first = start(qtbot, demo, prompter, monkeypatch)
    prompter.answer("run", remember)
    echo(qtbot, first)
    account = (KEYRING_SERVICE, str(demo.home.absolute()))
    assert memory_keyring.passwords == {account: demo.password}
    first.close()
    later = ScriptedPrompter()
    second = start(qtbot, demo, later, monkeypatch)
    echo(qtbot, second)
    assert later.asked == []  # no dialog: the keyring answered
    assert not any("password" in message for _, message, _ in later.errors)


def test_a_wrong_remembered_password_is_forgotten_and_the_dialog_shown(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    account = (KEYRING_SERVICE, str(demo.home.absolute()))
    memory_keyring.passwords[account] = "an-old-password"
    window = start(qtbot, demo, prompter, monkeypatch)
    prompter.answer("run", lambda dialog: type_password(qtbot, dialog, demo.password))
    echo(qtbot, window)
    assert [kind for kind, _ in prompter.asked] == ["run"]
    assert memory_keyring.passwords == {}  # not remembered again: the box was left unticked
    assert not any("password" in message for _, message, _ in prompter.errors)


def test_a_new_keystore_password_too_short_is_said_in_place(
    qtbot,  # type: ignore[no-untyped-def]
    prompter: ScriptedPrompter,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_keyring: None,
    pki: Pki,
) -> None:
    home = tmp_path / "fresh-home"
    seen: dict[str, str] = {}

    def choose(dialog: QDialog) -> None:
        seen["question"] = " ".join(label.text() for label in dialog.findChildren(QLabel))
        seen["short"] = type_password(qtbot, dialog, "short")
        dialog.password.clear()  # type: ignore[attr-defined]
        seen["long"] = type_password(qtbot, dialog, "a long keystore password")

    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    window = main_window(home, prompter=prompter)
    qtbot.addWidget(window)
    window.tabs.setCurrentWidget(window.certificates)
    prompter.answer("open_file", pki.path("client"), pki.path("client", ".key"))
    prompter.answer("text", KEY_PASSWORD, "hospital-it")
    prompter.answer("run", choose)
    click(qtbot, button(window.certificates, "Import identity…"))
    assert "Choose a keystore password" in seen["question"]
    assert seen["short"] == "A keystore password needs at least 8 characters."
    assert seen["long"] == "" and prompter.errors == []
    assert [i.name for i in window.services.keystore.identities()] == ["hospital-it"]
    assert window.services.keystore.verifies("a long keystore password")


def test_the_dialog_checks_the_password_off_the_gui_thread_and_stays_drawn(
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    checked_on: list[int] = []

    def check(password: str) -> bool:
        checked_on.append(threading.get_ident())
        return password == "the password"

    dialog = PasswordDialog(home="/home", new=False, check=check, offer_remember=False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert type_password(qtbot, dialog, "wrong") == "Wrong password, 2 tries left."
    assert dialog.isEnabled()  # usable again once the check answered
    assert type_password(qtbot, dialog, "the password") == ""
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert len(checked_on) == 2 and threading.get_ident() not in checked_on


def test_the_dialog_grows_to_show_its_whole_question_and_the_problem(
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    dialog = PasswordDialog(home="/home", new=False, check=lambda _: False, offer_remember=False)
    qtbot.addWidget(dialog)
    dialog.show()
    type_password(qtbot, dialog, "wrong")
    qtbot.waitUntil(lambda: dialog.problem.isVisible())
    for label in dialog.findChildren(QLabel):  # none clipped: each as tall as its text needs
        needed = label.heightForWidth(label.width()) if label.wordWrap() else 0
        assert label.height() >= needed, label.text()
    assert dialog.height() >= dialog.heightForWidth(dialog.width())  # the buttons too
