"""A send unlocks its identity and opens its first connection while it reads its media and
queues its job (``ConnectingAhead``): the connection is taken once if still fresh, failures
come where a connect's would, and nothing is queued when the identity cannot be opened."""

import argparse
import dataclasses
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from desktop.commands.options import open_keystore
from desktop.connect import ConnectingAhead, make_ahead, node_tls
from desktop.core.config import Node
from desktop.net.link import LinkError
from desktop.security.errors import PasswordError
from desktop.security.keystore import Keystore
from tests.helpers import cli, node_add
from tests.net.conftest import Scp, make_study
from tests.peers import LOOPBACK, free_port


def plain_node(port: int) -> Node:
    return Node("peer", "SCP", LOOPBACK, port, connect_timeout=5.0)


def accepted(server: socket.socket) -> socket.socket:
    server.settimeout(5.0)
    connection, _ = server.accept()
    connection.settimeout(5.0)
    return connection


def keystore() -> Keystore:
    return open_keystore(argparse.Namespace(password_file=None))


def test_the_first_connection_is_opened_before_it_is_asked_for(home: Path) -> None:
    with socket.create_server((LOOPBACK, 0)) as server:
        ahead = ConnectingAhead(plain_node(server.getsockname()[1]), keystore())
        first = accepted(server)  # nobody called the connector yet
        link = ahead.ready()()
        assert link.sock.getsockname() == first.getpeername()  # that very connection
        again = ahead()
        second = accepted(server)
        assert again.sock.getsockname() == second.getpeername()  # later calls connect anew
        for sock in (link.sock, again.sock, first, second):
            sock.close()
        ahead.close()


def test_a_stale_connection_is_closed_and_a_new_one_opened(home: Path) -> None:
    with socket.create_server((LOOPBACK, 0)) as server:
        ahead = ConnectingAhead(plain_node(server.getsockname()[1]), keystore(), fresh=0.0)
        first = accepted(server)
        link = ahead()
        second = accepted(server)
        assert first.recv(1) == b""  # the early one was closed
        assert link.sock.getsockname() == second.getpeername()
        for sock in (link.sock, first, second):
            sock.close()


def test_an_untaken_connection_is_closed(home: Path) -> None:
    with socket.create_server((LOOPBACK, 0)) as server:
        ahead = ConnectingAhead(plain_node(server.getsockname()[1]), keystore())
        first = accepted(server)
        ahead.close()
        assert first.recv(1) == b""
        first.close()


def test_closing_does_not_wait_for_a_peer_that_never_answers(home: Path) -> None:
    """A command that fails (a missing folder) says so at once, not after the handshake's
    timeout; what the handshake ends in is not kept."""
    with socket.create_server((LOOPBACK, 0)) as server:
        node = Node("mute", "SCP", LOOPBACK, server.getsockname()[1], tls=True, identity="courier")
        ahead = ConnectingAhead(node, keystore())
        mute = accepted(server)  # the ClientHello is never answered
        start = time.monotonic()
        ahead.close()
        assert time.monotonic() - start < 1.0
        mute.close()  # the handshake fails now (then diagnosed): nothing is kept
    ahead._thread.join(15.0)
    assert not ahead._thread.is_alive() and ahead._first is None


def test_a_refused_first_connection_fails_the_first_call(home: Path) -> None:
    ahead = ConnectingAhead(plain_node(free_port()), keystore())
    with pytest.raises(LinkError) as failure:
        ahead.ready()()
    assert failure.value.failure.code == "connection-refused"
    ahead.close()


def test_a_wrong_password_queues_nothing(
    home: Path,
    storescp: Scp,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_study(tmp_path / "study", count=2)
    cli(capsys, *node_add("pacs", "DCMTK_SCP", storescp.port, "--tls", "--identity", "courier"))
    tls_node = Node("pacs", "DCMTK_SCP", LOOPBACK, storescp.port, tls=True, identity="courier")
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", "not the password")
    with pytest.raises(PasswordError):
        ConnectingAhead(tls_node, keystore()).ready()
    status, _, err = cli(capsys, "send", "pacs", tmp_path / "study")
    assert status == 1 and "wrong keystore password" in err
    queue = home / "queue.sqlite"
    assert (
        not queue.exists()
        or not sqlite3.connect(queue).execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    )


def test_a_context_made_ahead_is_taken_once_by_a_connector_made_as_it_was(home: Path) -> None:
    """A warm service's spare child makes the node's TLS context ahead: the command's
    connector to that node takes it (once); one with other settings makes its own."""
    node = Node("pacs", "SCP", LOOPBACK, free_port(), tls=True, identity="courier")
    store = keystore()
    made = make_ahead(node, store)
    assert node_tls(node, store)[0] is made
    assert node_tls(node, store)[0] is not made
    made = make_ahead(node, store)
    other = dataclasses.replace(node, check_hostname=False)
    assert node_tls(other, store)[0] is not made
