"""Composition: who may use our listener. The configuration's access list as ``access``,
``listen`` and the GUI's editor change and read it; a client certificate's fingerprint read
from its file; and the list as a running listener sees it, read again whenever the
configuration changes, so an edit applies from the next association without a restart."""

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from desktop import auditing
from desktop.core.access import AccessError, AccessList, parse_grant
from desktop.core.config import ConfigError, config_path, edit_listener_access, load_config


class ConfiguredAccess:
    """HOME's access list for a listener (call it for the list now): read again when
    config.json has changed since the last association; one that cannot be read raises, and
    the listener refuses everyone."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._lock = threading.Lock()
        self._read: tuple[tuple[int, int, int] | None, AccessList] | None = None

    def __call__(self) -> AccessList:
        try:
            status = config_path(self.home).stat()
            stamp: tuple[int, int, int] | None = (
                status.st_mtime_ns,
                status.st_size,
                status.st_ino,  # a save replaces the file: a new inode
            )
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if self._read is None or self._read[0] != stamp:
                self._read = stamp, AccessList.parse(load_config(self.home).listener_access)
            return self._read[1]


def certificate_fingerprint(path: Path) -> str:
    """The SHA-256 fingerprint (64 hex digits) of the client certificate in ``path`` (PEM,
    DER or PKCS#7; its CA chain may follow it): what the listener compares with the
    certificate a client presents."""
    from desktop.security.certificates import fingerprint, is_ca, load_certificates

    try:
        data = path.read_bytes()
    except OSError as error:
        raise AccessError(f"{path} cannot be read: {error.strerror}", field="fingerprint") from None
    leaves = [c for c in load_certificates(data, path.name) if not is_ca(c)]
    if len(leaves) != 1:
        held = f"{len(leaves)} client certificates" if leaves else "only CA certificates"
        raise AccessError(
            f"{path.name} holds {held}: choose the file of the one client's certificate",
            field="fingerprint",
        )
    return fingerprint(leaves[0]).replace(":", "").lower()


def allow(home: Path, entries: Iterable[str], *, certificate: Path | None = None) -> list[str]:
    """Add ``entries`` (``AE[=SHA256][/store,query,retrieve]``) to HOME's access list; with
    ``certificate``, each is bound to that certificate's fingerprint."""
    grants = [parse_grant(entry) for entry in entries]
    if certificate is not None:
        bound = next((g for g in grants if g.fingerprint), None)
        if bound is not None:
            raise AccessError(
                f"{bound.entry!r} names its own fingerprint: give it, or a certificate, not both"
            )
        sha256 = certificate_fingerprint(certificate)
        grants = [replace(g, fingerprint=sha256) for g in grants]
    added = [g.entry for g in grants]  # as written back: services once each, in order
    return _edit(home, lambda entries: [*entries, *(e for e in added if e not in entries)])


def revoke(home: Path, titles: Iterable[str]) -> list[str]:
    """Remove every entry of these AE titles from HOME's access list; AccessError, and
    nothing removed, when a title has none."""
    gone = {title.strip() for title in titles}

    def revoked(entries: list[str]) -> list[str]:
        held = {parse_grant(e).ae_title for e in entries}
        if missing := sorted(gone - held):
            listed = ", ".join(sorted(held)) or "none: everyone may use everything"
            raise AccessError(f"no entry for {', '.join(map(repr, missing))}; titles: {listed}")
        return [e for e in entries if parse_grant(e).ae_title not in gone]

    return _edit(home, revoked)


def replace_all(home: Path, entries: Iterable[str], *, was: list[str] | None = None) -> list[str]:
    """HOME's access list becomes ``entries`` (the GUI's editor saves so); with ``was`` (the
    list as the editor read it), only if nobody changed it since: a revocation made
    meanwhile (``access revoke``) is never undone unseen."""
    new = list(entries)

    def replaced(current: list[str]) -> list[str]:
        if was is not None and current != was:
            raise ConfigError(
                "the access list was changed by another program (dicom-courier access) "
                f"while the editor was open; it is now: {', '.join(current) or 'anyone'}. "
                "Nothing was saved: open the editor again to change it"
            )
        return new

    return _edit(home, replaced)


def _edit(home: Path, edit: Callable[[list[str]], list[str]]) -> list[str]:
    """Save ``edit`` of the list and audit the change (110113, Security Configuration)."""
    before: list[str] = []

    def edited(entries: list[str]) -> list[str]:
        before.extend(entries)
        return edit(entries)

    saved = edit_listener_access(home, edited)
    if saved != before:
        auditing.access_changed(config_path(home), saved)
    return saved
