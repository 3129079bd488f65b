"""Adding, changing and removing nodes, for the CLI and the GUI alike: each change is saved
under the configuration's lock and audited (a node says how we connect and whom we trust)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core import config
from desktop.core.config import LOSSY_COMPRESSIONS, Node

if TYPE_CHECKING:
    from desktop.net.queue import TransferQueue
    from desktop.net.store import EchoResult


def identity_users(home: Path, name: str) -> list[str]:
    """What uses the keystore identity ``name``, in words: the nodes presenting it over TLS
    or signing with it, and the audit forwarding (its removal breaks them)."""
    from desktop.auditing import trail_folder
    from desktop.core.audit.forward import SETTINGS_NAME, ForwardError, ForwardSettings

    nodes = config.load_config(home).nodes.values()
    users = [f"node {n.name}" for n in nodes if name in (n.identity, n.sign_identity)]
    try:
        forwarding = ForwardSettings.load(trail_folder(home) / SETTINGS_NAME)
    except ForwardError:  # damaged: said where it is used
        forwarding = None
    if forwarding is not None and forwarding.identity == name:
        users.append("the audit forwarding")
    return users


def add(home: Path, node: Node) -> Node:
    added = config.add_node(home, node)
    _audit(home, f"node {added.name} added: {describe(added)}")
    return added


def edit(home: Path, name: str, /, **changes: Any) -> tuple[Node, Node]:
    """Change the node ``name`` (``changes`` may rename it: its jobs follow it): the node
    before and after."""
    before, changed = config.edit_node(home, name, **changes)
    renamed = f" (was {name})" if changed.name != name else ""
    if renamed:
        with _queue(home) as queue:
            if queue is not None:
                queue.rename_node(name, changed.name)
    if changed != before:
        _audit(home, f"node {changed.name}{renamed} changed: {describe(changed)}")
    return before, changed


def remove(home: Path, name: str) -> Node:
    removed = config.remove_node(home, name)
    _audit(home, f"node {removed.name} removed")
    return removed


def _audit(home: Path, description: str) -> None:
    """110113 for a change of the nodes. The audit trail is imported here, by a change: an
    echo or send starts deriving its identity's secret before the trail loads."""
    from desktop import auditing

    auditing.configuration_changed(home / "config.json", description)


def waiting_jobs(home: Path, name: str) -> list[int]:
    """The queue's jobs still pending for the node ``name``: they wait for it for ever once it
    is removed (a user removing it is told, to cancel them or add the node again)."""
    with _queue(home) as queue:
        if queue is None:
            return []
        return [job.id for job in queue.jobs() if job.node == name and job.state == "pending"]


@contextmanager
def _queue(home: Path) -> "Iterator[TransferQueue | None]":
    """The home's transfer queue, None when nothing was ever queued."""
    from desktop.net.queue import TransferQueue

    path = home / "queue.sqlite"
    if not path.exists():
        yield None
        return
    queue = TransferQueue(path)
    try:
        yield queue
    finally:
        queue.close()


def echo_words(name: str, result: "EchoResult") -> str:
    """An echo's answer in one line: 'echo pacs: success (0x0000) in 12 ms over TLSv1.3 …'."""
    tls = result.transcript.get("protocol")
    return f"echo {name}: {result.status.describe()} in {result.milliseconds:.0f} ms" + (
        f" over {tls} {result.transcript.get('cipher')}" if tls else " (plain)"
    )


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
        if node.sign_profile:
            security += ", never its signed copies (compressed, they would fail their signatures)"
    return f"{node.ae_title}@{node.host}:{node.port} as {node.calling_ae_title} ({security})"
