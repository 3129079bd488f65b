"""What was last proved about each node: a lock is "verified" only after a successful echo, TLS
check or send, with the time; remembered across sessions, forgotten when the node changes.
The GUI's own checks and the echoes and sends of history.jsonl (the CLI's too) count alike."""

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from desktop.core.config import Node
from desktop.net.history import History


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


def from_history(record: dict[str, Any]) -> tuple[str, Check] | None:
    """The node and check an echo or send record of history.jsonl proves (None for others)."""
    node, at, event = record.get("node"), record.get("time"), record.get("event")
    if not isinstance(node, str) or not isinstance(at, int | float):
        return None
    if event == "echo":
        return node, Check(
            float(at), "echo", ok=not record.get("failure") and not record.get("status")
        )
    if event == "closed" and record.get("sent"):
        return node, Check(float(at), "send", ok=True)
    if event == "failed" and "job" in record:
        return node, Check(float(at), "send", ok=False)
    return None


class NodeChecks:
    """The last check of each node: the GUI's, in its settings file, or the last echo or send
    in ``history`` (history.jsonl, written by the CLI and the GUI), whichever is newer. A check
    counts only for the node's settings as they are now: when they change (here or with
    ``node edit``), what happened before is forgotten."""

    def __init__(self, settings: QSettings, history: History | None = None) -> None:
        self.settings, self.history = settings, history
        self._read: tuple[int, int] | None = None  # the history file's (mtime, size) read
        self._logged: dict[str, Check] = {}

    def record(self, node: Node, how: str, *, ok: bool) -> Check:
        check = Check(time.time(), how, ok)
        value = {"node": fingerprint(node), **asdict(check)}
        self.settings.setValue(f"checks/{node.name}", json.dumps(value))
        self.settings.sync()
        return check

    def renamed(self, before: Node, after: Node) -> None:
        """Carry ``before``'s last check to ``after`` when only its name changed: a rename
        changes nothing we talk to, so a node verified a moment ago stays verified."""
        if replace(before, name=after.name) != after:
            return
        check = self.last(before)
        if check is not None:
            value = {"node": fingerprint(after), **asdict(check)}
            self.settings.setValue(f"checks/{after.name}", json.dumps(value))
        for key in (f"checks/{before.name}", f"settings/{before.name}"):
            self.settings.remove(key)
        self.settings.sync()

    def last(self, node: Node) -> Check | None:
        """The last check of ``node`` as it is configured now (None after a change)."""
        since = self._since(node)
        own = self._own(node)
        logged = self._history().get(node.name)
        found = [c for c in (own, logged) if c is not None and c.at >= since]
        return max(found, key=lambda c: c.at, default=None)

    def _own(self, node: Node) -> Check | None:
        raw = self.settings.value(f"checks/{node.name}")
        try:
            value = json.loads(str(raw)) if raw else None
        except ValueError:
            return None
        if not isinstance(value, dict) or value.get("node") != fingerprint(node):
            return None
        return Check(float(value["at"]), str(value["how"]), bool(value["ok"]))

    def _since(self, node: Node) -> float:
        """Since when the node has its present settings, as far as we can tell: 0 when we
        never saw it otherwise; else when we saw it change (the configuration file's time)."""
        key, now = f"settings/{node.name}", fingerprint(node)
        raw = self.settings.value(key)
        try:
            seen = json.loads(str(raw)) if raw else None
        except ValueError:
            seen = None
        if isinstance(seen, dict) and seen.get("node") == now:
            return float(seen.get("since", 0.0))
        since = 0.0 if seen is None else self._changed_at()
        self.settings.setValue(key, json.dumps({"node": now, "since": since}))
        return since

    def _changed_at(self) -> float:
        config = self.history.path.parent / "config.json" if self.history else None
        try:
            return min(config.stat().st_mtime, time.time()) if config else time.time()
        except OSError:
            return time.time()

    def _history(self) -> dict[str, Check]:
        """The newest echo or send of each node in history.jsonl, read again when it grew."""
        if self.history is None:
            return {}
        try:
            stat = Path(self.history.path).stat()
        except OSError:
            return {}
        if self._read != (stat.st_mtime_ns, stat.st_size):
            self._read = (stat.st_mtime_ns, stat.st_size)
            self._logged = {}
            for record in self.history.read():
                found = from_history(record)
                if found is not None:
                    self._logged[found[0]] = found[1]
        return self._logged
