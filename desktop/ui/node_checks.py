"""What was last proved about each node: a lock is "verified" only after a successful echo, TLS
check or send, with the time; remembered across sessions, forgotten when the node changes."""

import hashlib
import json
import time
from dataclasses import asdict, dataclass

from PySide6.QtCore import QSettings

from desktop.core.config import Node


@dataclass(frozen=True, slots=True)
class Check:
    at: float  # epoch seconds
    how: str  # "echo", "TLS check", "send"
    ok: bool

    def describe(self, *, tls: bool) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.at))
        if not self.ok:
            return f"{self.how} failed {when}"
        return f"{'verified' if tls else 'reached'} {when} by {self.how}"


def fingerprint(node: Node) -> str:
    """Changes whenever a setting that decides what we talk to changes."""
    return hashlib.sha256(json.dumps(asdict(node), sort_keys=True).encode()).hexdigest()[:16]


class NodeChecks:
    """The last check of each node, in the GUI's settings file."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def record(self, node: Node, how: str, *, ok: bool) -> Check:
        check = Check(time.time(), how, ok)
        value = {"node": fingerprint(node), **asdict(check)}
        self.settings.setValue(f"checks/{node.name}", json.dumps(value))
        self.settings.sync()
        return check

    def last(self, node: Node) -> Check | None:
        """The last check of ``node`` as it is configured now (None after a change)."""
        raw = self.settings.value(f"checks/{node.name}")
        try:
            value = json.loads(str(raw)) if raw else None
        except ValueError:
            return None
        if not isinstance(value, dict) or value.get("node") != fingerprint(node):
            return None
        return Check(float(value["at"]), str(value["how"]), bool(value["ok"]))
