"""Asking the home's warm service to do something (its status, stop, lock, unlock), for
``dicom-courier service`` and for what makes the service's secrets stale (a changed keystore
password, from the CLI or the GUI)."""

import json
from contextlib import closing
from pathlib import Path
from typing import Any

from desktop.warm import wire

#: Why a changed keystore password has the service forget its secrets (its audit says).
PASSWORD_CHANGED = "a change of the keystore password"


def ask(home: Path, kind: bytes, *fields: bytes) -> dict[str, Any] | None:
    """The answer of ``home``'s service (a status as JSON, else ``{"answer": LINE}``); None
    when none answers."""
    from desktop.warm.client import connect

    connection = connect(str(home / wire.SOCKET_NAME))
    if connection is None:
        return None
    with closing(connection):  # a bare _socket.socket
        try:
            connection.sendall(wire.frame([wire.PROTOCOL, kind, *fields]))
            answer = wire.Lines(connection).next()
        except (TimeoutError, OSError):
            return None
    if not answer or answer in wire.LOCAL:
        return None
    return json.loads(answer) if answer.startswith(b"{") else {"answer": answer.decode()}


def forget_secrets(home: Path, why: str) -> bool:
    """Have ``home``'s service, if one runs, forget what it holds unlocked (audited there,
    with ``why``); whether one did."""
    return ask(home, wire.LOCK, why.encode()) is not None
