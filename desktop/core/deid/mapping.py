"""Keyed, reproducible replacements: new UIDs and per-patient date shifts.

HMAC-SHA-256 under the project key: the same original gives the same result for the same key on
any machine and in any run, so a study de-identified in parts is still one study; without the key
the original cannot be confirmed from the result (unlike an unkeyed hash of the UID).
"""

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field

#: Shifts lie in [-MAX_SHIFT_DAYS, -1]: dates move back by up to ten years, never to the future.
MAX_SHIFT_DAYS = 3650
UUID_VERSION_MASK = ~(0xF << 76) & ~(0x3 << 62)
UUID_VERSION_8 = 0x8 << 76  #: RFC 9562 custom (hash-based) UUID
UUID_VARIANT = 0x2 << 62


@dataclass(slots=True)
class KeyedMapping:
    """New UIDs and date shifts under one project key (results cached per original)."""

    key: bytes
    _uids: dict[str, str] = field(default_factory=dict)

    def uid(self, original: str) -> str:
        """``2.25.<decimal>`` of 128 bits of HMAC(key, original), UUID version and variant set."""
        found = self._uids.get(original)
        if found is None:
            digest = self._digest(b"uid", original)
            number = int.from_bytes(digest[:16], "big") & UUID_VERSION_MASK
            found = f"2.25.{number | UUID_VERSION_8 | UUID_VARIANT}"
            self._uids[original] = found
        return found

    def pseudonym(self, patient_id: str) -> str:
        """The patient's stand-in ID and name: ``ANON-`` and 16 base-32 characters of
        HMAC(key, ID), so one patient keeps one pseudonym and two patients never share one."""
        digest = self._digest(b"patient", patient_id)
        return "ANON-" + base64.b32encode(digest[:10]).decode("ascii")

    def shift_days(self, patient_id: str) -> int:
        """The patient's date shift, in days (negative)."""
        digest = self._digest(b"date-shift", patient_id)
        return -(int.from_bytes(digest[:8], "big") % MAX_SHIFT_DAYS + 1)

    def _digest(self, purpose: bytes, value: str) -> bytes:
        message = purpose + b"\x00" + value.strip("\x00 ").encode("ascii", "replace")
        return hmac.new(self.key, message, hashlib.sha256).digest()


def shift_date(value: str, days: int) -> str:
    """A DA value (YYYYMMDD) moved by ``days``; a value that is not a full date becomes ''."""
    try:
        moved = dt.datetime.strptime(value[:8], "%Y%m%d").date() + dt.timedelta(days=days)
    except ValueError:
        return ""
    return moved.strftime("%Y%m%d")


def shift_date_time(value: str, days: int) -> str:
    """A DT value moved by ``days``: its date part shifted, time and offset kept."""
    if len(value) < 8:
        return ""
    moved = shift_date(value[:8], days)
    return moved + value[8:] if moved else ""
