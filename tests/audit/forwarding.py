"""What the audit forwarding tests share: the keystore's password, the name our identity
presents to the repository, and what waits in the spool."""

from pathlib import Path

PASSWORD = "audit keystore password"
PEER_NAME = "courier.audit.test"


def spooled(home: Path) -> int:
    """How many messages wait in ``home``'s spool for the repository."""
    return len(list((home / "audit" / "spool").glob("*.syslog")))
