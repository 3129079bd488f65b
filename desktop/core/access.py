"""Who may use our listener, and for what: calling AE titles, each optionally bound to a client
certificate's SHA-256 fingerprint, each granted some of the services store, query, retrieve.

An entry reads ``AE``, ``AE=FINGERPRINT``, ``AE/store,query`` or ``AE=FINGERPRINT/retrieve``;
without ``/...`` the title may use every service. No entry at all: anyone may use everything.
"""

import re
from dataclasses import dataclass

from desktop.core.errors import CourierError

STORE, QUERY, RETRIEVE = "store", "query", "retrieve"
PERMISSIONS = frozenset({STORE, QUERY, RETRIEVE})
FINGERPRINT = re.compile(r"[0-9a-f]{64}")
EVERYTHING = PERMISSIONS


class AccessError(CourierError):
    """An access list entry that cannot be read; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One entry: ``ae_title`` (with the certificate ``fingerprint``, when bound) may use
    ``services``."""

    ae_title: str
    fingerprint: str
    services: frozenset[str]


def parse_grant(entry: str) -> Grant:
    """``AE[=SHA256][/SERVICE,...]`` → Grant, or AccessError saying what is wrong."""
    head, slash, tail = entry.rpartition("/")
    if not slash or not _services(tail):
        head, tail = entry, ""
    title, _, fingerprint = head.partition("=")
    title = title.strip()
    if not title or len(title) > 16:
        raise AccessError(f"{entry!r}: an AE title is 1 to 16 characters")
    normal = fingerprint.replace(":", "").strip().lower()
    if fingerprint and not FINGERPRINT.fullmatch(normal):
        raise AccessError(
            f"{entry!r}: after '=' comes a certificate's SHA-256 fingerprint "
            "(64 hex digits, colons allowed)"
        )
    services = _services(tail) if tail else EVERYTHING
    return Grant(title, normal, services)


def _services(text: str) -> frozenset[str]:
    """The services named in ``text`` ("store,query"), empty when any name is not one."""
    names = frozenset(name.strip().lower() for name in text.split(","))
    return names if names and names <= PERMISSIONS else frozenset()


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
