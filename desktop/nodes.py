"""Adding, changing and removing nodes, for the CLI and the GUI alike: each change is saved
under the configuration's lock and audited (a node says how we connect and whom we trust)."""

from pathlib import Path
from typing import Any

from desktop import auditing
from desktop.core import config
from desktop.core.config import LOSSY_COMPRESSIONS, Node


def add(home: Path, node: Node) -> Node:
    added = config.add_node(home, node)
    auditing.configuration_changed(
        home / "config.json", f"node {added.name} added: {describe(added)}"
    )
    return added


def edit(home: Path, name: str, /, **changes: Any) -> Node:
    """Change the node ``name`` (``changes`` may rename it)."""
    before = config.find_node(config.load_config(home), name)
    changed = config.edit_node(home, name, **changes)
    renamed = f" (was {name})" if changed.name != name else ""
    if changed != before:
        auditing.configuration_changed(
            home / "config.json", f"node {changed.name}{renamed} changed: {describe(changed)}"
        )
    return changed


def remove(home: Path, name: str) -> Node:
    removed = config.remove_node(home, name)
    auditing.configuration_changed(home / "config.json", f"node {removed.name} removed")
    return removed


def waiting_jobs(home: Path, name: str) -> list[int]:
    """The queue's jobs still pending for the node ``name``: they wait for it for ever once it
    is removed (a user removing it is told, to cancel them or add the node again)."""
    from desktop.net.queue import TransferQueue

    path = home / "queue.sqlite"
    if not path.exists():
        return []
    queue = TransferQueue(path)
    try:
        return [job.id for job in queue.jobs() if job.node == name and job.state == "pending"]
    finally:
        queue.close()


def describe(node: Node) -> str:
    """The node in one line: where, as whom, and how its copies are protected."""
    security = (
        (
            f"TLS {node.profile}, identity {node.identity or 'none'}"
            + ("" if node.check_hostname else ", no hostname check")
        )
        if node.tls
        else "plain"
    )
    if node.sign_profile:
        security += f"; signs copies, {node.sign_profile} profile, as {node.sign_identity}"
    if node.deid:
        options = ", ".join(node.deid_options) or "no option"
        security += f"; de-identifies copies ({options})" + (
            ", burned-in text masked"
            if node.deid_pixels == "auto"
            else ", images that may show burned-in text held back"
        )
        if node.deid_recipient:
            security += f", originals encrypted for {node.deid_recipient}"
    if node.commit:
        security += f"; storage commitment, report awaited {node.commit_wait:g} s"
    if node.compress != "none":
        security += f"; compresses {node.compress}" + (
            " (LOSSY)" if node.compress in LOSSY_COMPRESSIONS else ""
        )
    return f"{node.ae_title}@{node.host}:{node.port} as {node.calling_ae_title} ({security})"
