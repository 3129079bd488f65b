"""The Query/Retrieve panel with its controller alone, by clicks: Find against DCMTK's
dcmqrscp shows its study, Retrieve moves it into our Inbox; without a listener, Retrieve
says how to turn it on."""

import subprocess
from pathlib import Path

from desktop.app import InboxSettings
from desktop.core.config import Node, add_node
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.ui.query_controller import QueryController
from desktop.ui.shell import Shell
from desktop.ui.widgets.query import QueryPanel
from tests.helpers import require_tool
from tests.peers import LOOPBACK, free_port, running
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter


def dcmqrscp_config(folder: Path, port: int, inbox: InboxSettings) -> Path:
    """An archive AE "QRSCP" that knows our Inbox as a move destination."""
    (folder / "db").mkdir(parents=True)
    config = folder / "dcmqrscp.cfg"
    config.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n"
        f"HostTable BEGIN\ninbox = ({inbox.ae_title}, {LOOPBACK}, {inbox.port})\n"
        "HostTable END\nVendorTable BEGIN\nVendorTable END\n"
        f"AETable BEGIN\nQRSCP {folder / 'db'} RW (10, 100mb) ANY\nAETable END\n"
    )
    return config


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
    config = dcmqrscp_config(tmp_path / "qr", port, settings)
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
        qtbot.waitUntil(lambda: "Retrieved" in (statuses or [""])[-1], timeout=30000)
    assert len(list(shell.services.inbox.rglob("*.dcm"))) == 3
    assert len(prompter.errors) == 1 and controller.inbox() is settings
