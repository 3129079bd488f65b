"""A cancel wakes what a silent peer holds before any instance is sent: a TLS handshake still
in ``connect()`` (the node's connector and the CLI's connection opened ahead) and a storage
commitment request left unanswered; within a second, not the node's timeouts."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from desktop.connect import ConnectingAhead, node_connector
from desktop.core.config import Node
from desktop.net.cancel import CANCELLED, Cancel
from desktop.net.commitment import (
    JobCommitment,
    begin,
    request,
)
from desktop.net.link import Connector, LinkError
from desktop.net.queue import FAILED, TransferQueue
from desktop.security.keystore import Keystore
from tests.net.conftest import PASSWORD
from tests.net.scripted_peer import Conversation, scripted_peer
from tests.net.test_commitment import sent_job
from tests.peers import unanswered_port

TIMEOUT = 60.0  # the node's connect and network timeouts: what a cancel must not wait for
PROMPT = 1.0  # what it may take instead (thread scheduling on a loaded machine included)


@contextmanager
def silent_listener() -> Iterator[tuple[int, threading.Event]]:
    """A port that accepts connections, reads what comes and never answers (a TLS handshake
    waits for its ServerHello for ever); the event is set once bytes came."""
    server = socket.create_server(("127.0.0.1", 0))
    heard = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                sock, _ = server.accept()
            except OSError:
                return
            held.append(sock)
            if sock.recv(4096):
                heard.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], heard
    finally:
        server.close()
        for sock in held:
            sock.close()
        thread.join(5)


def tls_node(port: int) -> Node:
    return Node(
        name="silent", ae_title="SCP", host="127.0.0.1", port=port, tls=True,
        connect_timeout=TIMEOUT, network_timeout=TIMEOUT,
    )  # fmt: skip


def cancelled_after(
    work: Callable[[], object], started: threading.Event, cancel: Cancel
) -> tuple[float, list[object]]:
    """Run ``work`` on a thread, cancel once ``started``: the seconds the cancel took and
    what ``work`` returned or raised."""
    ended: list[object] = []

    def run() -> None:
        try:
            ended.append(work())
        except Exception as error:
            ended.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10), "the silent peer heard nothing"
    time.sleep(0.2)  # well inside the handshake's or request's wait
    begun = time.monotonic()
    cancel.cancel()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    return time.monotonic() - begun, ended


@pytest.mark.parametrize("ahead", [False, True], ids=["connector", "connecting-ahead"])
def test_a_cancel_wakes_a_tls_handshake_with_a_silent_peer(home: Path, ahead: bool) -> None:
    keystore = Keystore(home, lambda new: PASSWORD)
    cancel = Cancel()
    with silent_listener() as (port, heard):
        node = tls_node(port)
        connector: Connector = (
            ConnectingAhead(node, keystore).ready() if ahead else node_connector(node, keystore)
        )
        elapsed, ended = cancelled_after(cancel.connector(connector), heard, cancel)
    assert elapsed < PROMPT, f"the cancel took {elapsed:.1f} s"
    [error] = ended
    assert isinstance(error, LinkError) and error.failure == CANCELLED, error


def test_a_cancel_wakes_a_commitment_request_the_peer_never_answers(
    home: Path, tmp_path: Path
) -> None:
    asked = threading.Event()

    def silent(peer: Conversation) -> None:
        peer.accept()
        peer.read_message()  # our N-ACTION-RQ, never answered
        asked.set()

    job, _, _ = sent_job(home, tmp_path, request=False)
    path = home / "queue.sqlite"
    cancel = Cancel()

    def ask(connect: Connector) -> JobCommitment:
        queue = TransferQueue(path)  # on the asking thread, as a worker's
        try:
            transaction = begin(queue, job, called="SCP")
            assert transaction is not None
            return request(
                queue, transaction, connect, called="SCP", calling="COURIER", wait=TIMEOUT,
                cancel=cancel,
            )  # fmt: skip
        finally:
            queue.close()

    with scripted_peer(silent) as peer:
        elapsed, ended = cancelled_after(lambda: ask(peer.connector(TIMEOUT)), asked, cancel)
    assert elapsed < PROMPT, f"the cancel took {elapsed:.1f} s"
    [done] = ended
    assert isinstance(done, JobCommitment), done
    assert not done.outcome.accepted and done.outcome.message == "cancelled", done
    queue = TransferQueue(path)
    try:
        states = {(i.commitment, i.commitment_reason) for i in queue.instances(job)}
    finally:
        queue.close()
    assert states == {(FAILED, "commitment not requested: cancelled")}, states


@pytest.mark.parametrize("ahead", [False, True], ids=["connector", "connecting-ahead"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_cancel_wakes_a_connect_to_a_host_that_never_answers(
    home: Path, tls: bool, ahead: bool
) -> None:
    """A plain TCP connect() (before any TLS) to a host whose SYN is never answered waited the
    node's connect timeout whatever a cancel (the GUI's Cancel, the CLI's Ctrl-C: its
    connection is opened ahead) did."""
    keystore = Keystore(home, lambda new: PASSWORD)
    cancel = Cancel()
    connecting = threading.Event()
    with unanswered_port() as port:
        node = replace(tls_node(port), tls=tls, identity="courier" if tls else "")
        connector: Connector = (
            ConnectingAhead(node, keystore).ready() if ahead else node_connector(node, keystore)
        )

        def connect() -> object:
            connecting.set()
            return cancel.connector(connector)()

        elapsed, ended = cancelled_after(connect, connecting, cancel)
    assert elapsed < PROMPT, f"the cancel took {elapsed:.1f} s"
    [error] = ended
    assert isinstance(error, LinkError) and error.failure == CANCELLED, error
