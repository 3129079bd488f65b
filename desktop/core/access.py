"""Who may use our listener, and for what: calling AE titles, each optionally bound to a client
certificate's SHA-256 fingerprint, each granted some of the services store, query, retrieve.

An entry reads ``AE``, ``AE=FINGERPRINT``, ``AE/store,query`` or ``AE=FINGERPRINT/retrieve``;
without ``/...`` the title may use every service. No entry at all: anyone may use everything.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from desktop.core.ae_title import RULE, is_ae_title
from desktop.core.errors import CourierError

STORE, QUERY, RETRIEVE = "store", "query", "retrieve"
ORDER = (STORE, QUERY, RETRIEVE)
PERMISSIONS = frozenset(ORDER)
FINGERPRINT = re.compile(r"[0-9a-f]{64}")
EVERYTHING = PERMISSIONS


class AccessError(CourierError):
    """An access list entry that cannot be read; the message says what is wrong and
    ``field`` which part ("ae_title", "fingerprint", "services"), when one is."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Grant:
    """One entry: ``ae_title`` (with the certificate ``fingerprint``, when bound) may use
    ``services``."""

    ae_title: str
    fingerprint: str
    services: frozenset[str]

    @property
    def entry(self) -> str:
        """The entry as the configuration and ``access allow`` write it (services only when
        not all, or when the title holds a slash)."""
        bound = f"={self.fingerprint}" if self.fingerprint else ""
        named = self.services != EVERYTHING or "/" in self.ae_title
        services = "/" + ",".join(s for s in ORDER if s in self.services) if named else ""
        return f"{self.ae_title}{bound}{services}"


def grant(ae_title: str, fingerprint: str, services: Iterable[str]) -> Grant:
    """A checked Grant: an AE title, a SHA-256 fingerprint ('' for none; colons, spaces and
    either case allowed) and at least one service; AccessError names the part at fault."""
    title = ae_title.strip()
    if not is_ae_title(title):
        raise AccessError(f"the AE title {ae_title!r} must be {RULE}", field="ae_title")
    if "=" in title:
        raise AccessError(
            f"the AE title {title!r}: an access list entry cannot hold '=' in a title",
            field="ae_title",
        )
    normal = re.sub(r"[:\s]", "", fingerprint).lower()
    if normal and not FINGERPRINT.fullmatch(normal):
        raise AccessError(
            f"{fingerprint.strip()[:80]!r} is not a certificate's SHA-256 fingerprint "
            "(64 hex digits, colons allowed)",
            field="fingerprint",
        )
    granted = frozenset(services)
    if not granted or not granted <= PERMISSIONS:
        raise AccessError(
            "grant at least one of store, query, retrieve (to refuse a title, remove it)",
            field="services",
        )
    return Grant(title, normal, granted)


def parse_grant(entry: str) -> Grant:
    """``AE[=SHA256][/SERVICE,...]`` → Grant, or AccessError saying what is wrong. What
    follows the last '/' is the list of services: a title holding '/' names them too."""
    head, slash, tail = entry.rpartition("/")
    if not slash:
        head = entry
    title, _, fingerprint = head.partition("=")
    try:
        return grant(title, fingerprint, _services(tail) if slash else EVERYTHING)
    except AccessError as error:
        raise AccessError(f"{entry!r}: {error}", field=error.field) from None


def _services(text: str) -> frozenset[str]:
    """The services named in ``text`` ("store,query"); AccessError for a name that is not one
    (with the nearest) or for none at all."""
    names = [name.strip().lower() for name in text.split(",")]
    for name in names:
        if name not in PERMISSIONS:
            import difflib

            near = difflib.get_close_matches(name, ORDER, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise AccessError(
                f"{name or 'nothing'!r} after '/' is not a service{hint}: name store, query "
                "or retrieve (a title holding '/' names its services too: CT/MR/store)",
                field="services",
            )
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class AccessList:
    """The grants of a listener; empty: everyone may use every service."""

    grants: tuple[Grant, ...] = ()

    @classmethod
    def parse(cls, entries: list[str]) -> "AccessList":
        return cls(tuple(parse_grant(entry) for entry in entries))

    def refusal(self, calling: str, fingerprint: str) -> str:
        """Why ``calling`` presenting ``fingerprint`` ('' over plain TCP) may not associate at
        all, or '' when it may."""
        if not self.grants:
            return ""
        titled = [g for g in self.grants if g.ae_title == calling]
        if not titled:
            return f"calling AE title {calling!r} is not in the allowed list"
        if not any(g.fingerprint in ("", fingerprint) for g in titled):
            return (
                f"calling AE title {calling!r} is bound to another client certificate "
                f"(this one: SHA-256 {fingerprint or 'none, plain TCP'})"
            )
        return ""

    def services(self, calling: str, fingerprint: str) -> frozenset[str]:
        """The services ``calling`` presenting ``fingerprint`` may use."""
        if not self.grants:
            return EVERYTHING
        return frozenset().union(
            *(
                g.services
                for g in self.grants
                if g.ae_title == calling and g.fingerprint in ("", fingerprint)
            )
        )
