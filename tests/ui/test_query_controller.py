"""The Query/Retrieve panel with its controller alone, by clicks: Find against DCMTK's
dcmqrscp shows its study, Retrieve moves it into our Inbox; without a listener, Retrieve
says how to turn it on."""

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.app import InboxSettings, Services
from desktop.core.config import Node, add_node
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.demo import DEMO_NODE, INBOX_AE, Demo, start_pacs
from desktop.ui.main_window import MainWindow
from desktop.ui.query_controller import QueryController
from desktop.ui.shell import Shell
from desktop.ui.widgets.query import QueryPanel
from tests.helpers import require_tool
from tests.peers import LOOPBACK, dcmqrscp_config, free_port, running
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter

if TYPE_CHECKING:  # cryptography only when a test asks for the PKI
    from tests.pki import Pki


def test_find_then_retrieve_into_the_inbox_by_clicking(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    statuses: list[str],
    tmp_path: Path,
) -> None:
    panel = QueryPanel()
    qtbot.addWidget(panel)
    inbox: list[InboxSettings | None] = [None]
    controller = QueryController(shell, panel, lambda: inbox[0])
    port = free_port()
    add_node(shell.services.home, Node("Archive", "QRSCP", LOOPBACK, port))
    panel.set_nodes(["Archive"])
    settings = InboxSettings("MY_INBOX", free_port())
    files = write_files(
        tmp_path / "study",
        (StudySpec("Q1", "Query^Me", "20240101", "head", (SeriesSpec("CT", "ax", 3, 16, 16),)),),
    )
    config = dcmqrscp_config(tmp_path / "qr", port, hosts=[(settings.ae_title, settings.port)])
    with running([require_tool("dcmqrscp"), "-c", config], port, tmp_path / "qr.log"):
        storescu = [require_tool("storescu"), "-aec", "QRSCP", LOOPBACK, str(port), *files]
        subprocess.run([str(a) for a in storescu], check=True, capture_output=True, timeout=30)
        panel.patient_name.setText("Query*")
        click(qtbot, button(panel, "Find"))
        qtbot.waitUntil(lambda: panel.results.rowCount() == 1, timeout=20000)
        panel.results.selectRow(0)
        click(qtbot, button(panel, "Retrieve selected to Inbox"))
        assert prompter.errors[-1][0] == "Retrieve"
        assert "listener is not running" in prompter.errors[-1][1]

        inbox[0] = settings
        shell.services.start_inbox(settings, lambda record: None)
        click(qtbot, button(panel, "Retrieve selected to Inbox"))
        qtbot.waitUntil(lambda: "retrieved" in (statuses or [""])[-1], timeout=30000)
    assert len(list(shell.services.inbox.rglob("*.dcm"))) == 3
    assert len(prompter.errors) == 1 and controller.inbox() is settings


def test_a_find_answered_ff01_says_which_keys_the_peer_did_not_support(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
) -> None:
    """An archive that does not support ModalitiesInStudy answers 0xFF01 and leaves it out of
    its match (none of our peers does: dcmqrscp and Orthanc answer 0xFF00, our listener
    supports every key of this panel): the match is shown, and above it the key, in words."""
    import pydicom

    from desktop.net import dimse
    from desktop.net.encoding import decode, encode
    from tests.net.scripted_peer import Conversation, scripted_peer

    def archive(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()
        syntax = peer.proposed[0].transfer_syntaxes[0]
        match = pydicom.Dataset()
        for element in decode(peer.dataset, syntax):
            if element.keyword != "ModalitiesInStudy":
                match.add(element)
        match.PatientName, match.StudyInstanceUID = "Warn^Ed", "1.2.3"
        base = {
            dimse.COMMAND_FIELD: dimse.C_FIND_RSP,
            dimse.MESSAGE_ID_RESPONDED: int(command[dimse.MESSAGE_ID]),
        }
        peer.respond(context_id, {**base, dimse.STATUS: 0xFF01}, encode(match, syntax))
        peer.respond(context_id, {**base, dimse.STATUS: 0})

    panel = QueryPanel()
    qtbot.addWidget(panel)
    QueryController(shell, panel, lambda: None)
    with scripted_peer(archive) as peer:
        add_node(shell.services.home, Node("Partial", "PARTIAL", LOOPBACK, peer.port))
        panel.set_nodes(["Partial"])
        panel.modality.setText("CT")
        click(qtbot, button(panel, "Find"))
        qtbot.waitUntil(lambda: panel.results.rowCount() == 1, timeout=20000)
    assert panel.results.item(0, 0).text() == "Warn^Ed"
    assert not panel.warning.isHidden() and not prompter.errors
    assert panel.warning.text() == (
        "Warning: the peer does not support the optional key ModalitiesInStudy (0xFF01): "
        "ignored for matching and not returned, so the matches may be more than asked for"
    )


def test_the_demo_pacs_retrieve_adds_a_study_to_the_inbox_and_counts_it(
    qtbot,  # type: ignore[no-untyped-def]
    demo: Demo,
    prompter: ScriptedPrompter,
    tmp_path: Path,
) -> None:
    """Also: the results read as the Media tree does (its headers, its dates)."""
    shots = tmp_path
    services = Services(demo.home, lambda new: demo.password)
    inbox = InboxSettings(INBOX_AE, free_port(), identity="demo-pacs")
    pacs = start_pacs(demo, services.keystore, inbox.port)
    window = MainWindow(services, inbox, prompter=prompter)
    qtbot.addWidget(window)
    window.show()
    try:
        pacs.stocking.wait()
        assert services.store().counts()[3] == 0  # the Inbox is not the PACS
        window.tabs.setCurrentWidget(window.query)
        window.query.node.setCurrentText(DEMO_NODE)
        click(qtbot, button(window.query, "Find"))
        qtbot.waitUntil(lambda: window.query.results.rowCount() == 4, timeout=20000)
        table = window.query.results
        headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
        assert headers == ["Name", "ID", "Date", "Description", "Accession", "Modality", "Images"]
        descriptions = [table.item(r, 3).text() for r in range(4)]
        mr = descriptions.index("MR Brain")
        assert [table.item(mr, c).text() for c in (0, 2, 5, 6)] == [
            "Demo^Alice",
            "2025-01-02 09:30",
            "MR",
            "24",
        ]  # as the Media tree shows them
        window.grab().save(str(shots / "query.png"))
        table.selectRow(mr)
        for new in (24, 0):
            click(qtbot, button(window.query, "Retrieve selected to Inbox"))
            said = f"24 instance(s) retrieved into the Inbox ({new} new; the Inbox tab)"
            qtbot.waitUntil(lambda s=said: window.statusBar().currentMessage() == s, timeout=30000)
        assert services.store().counts()[1:] == (1, 2, 24)  # one study, both its series
        assert len(list(services.inbox.rglob("*.dcm"))) == 24  # the second time, no copies
    finally:
        window.close()
        pacs.stop()


def test_a_retrieve_the_archive_cannot_deliver_says_nothing_reached_our_inbox(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    prompter: ScriptedPrompter,
    tmp_path: Path,
    pki: "Pki",
) -> None:
    """G12 item 9 of findings7, as `move --listen` says it: Orthanc (TLS) knows our Inbox's
    AE title at another port than the one our listener is on; its C-MOVE fails (0xC000) and
    the Retrieve said only that, not the usual cause."""
    from tests.net.test_qr_orthanc import STUDY
    from tests.orthanc import running_orthanc
    from tests.pki import KEY_PASSWORD

    keystore = shell.services.keystore
    keystore.import_cas(pki.path("root-only"))
    keystore.import_identity("client", pki.path("client", ".p12"), file_password=KEY_PASSWORD)
    keystore.import_identity("both", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    panel = QueryPanel()
    qtbot.addWidget(panel)
    with running_orthanc(pki, tmp_path) as orthanc:
        port = orthanc.dicom_port
        add_node(
            shell.services.home, Node("orthanc", "ORTHANC", LOOPBACK, port, True, identity="client")
        )
        settings = InboxSettings("COURIER", free_port(), identity="both")  # not its move_port
        assert settings.port != orthanc.move_port
        QueryController(shell, panel, lambda: settings)
        panel.set_nodes(["orthanc"])
        shell.services.start_inbox(settings, lambda record: None)
        for path in write_files(tmp_path / "study", (STUDY,)):
            orthanc.upload(path)
        panel.patient_name.setText("Orthanc*")
        click(qtbot, button(panel, "Find"))
        qtbot.waitUntil(lambda: panel.results.rowCount() == 1, timeout=20000)
        panel.results.selectRow(0)
        click(qtbot, button(panel, "Retrieve selected to Inbox"))
        qtbot.waitUntil(lambda: bool(prompter.errors), timeout=30000)
    title, message, _ = prompter.errors[-1]
    assert title == "Retrieve" and "the peer failed the retrieve" in message, message
    assert (
        f"nothing reached our listener on 127.0.0.1:{settings.port}: orthanc may know COURIER "
        "at another address or port (its list of known AE titles says)"
    ) in message, message
