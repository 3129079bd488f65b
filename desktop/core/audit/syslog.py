"""Audit messages as RFC 5424 syslog messages, framed for TLS transport as RFC 5425 says."""

import datetime as dt

PRI = "<85>"  # facility 10 (security/authorization), severity 5 (notice)
VERSION = "1"
APP_NAME = "DICOM-Courier"
MSGID = "DICOM+RFC3881"
BOM = b"\xef\xbb\xbf"
NIL = "-"


def syslog_message(xml: str, *, time: dt.datetime, host: str, pid: int, sequence: int) -> bytes:
    """``<85>1 TIMESTAMP HOST APP PID DICOM+RFC3881 [meta sequenceId="N"] BOM XML``.

    The sequence id (RFC 5424 7.3.1) is the record's number in the local log, so that a
    repository can tell a message resent after an outage from a new one.
    """
    header = " ".join(
        (
            PRI + VERSION,
            time.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            _field(host, 255),
            APP_NAME,
            _field(str(pid), 128),
            MSGID,
            f'[meta sequenceId="{sequence}"]',
        )
    )
    return header.encode("ascii") + b" " + BOM + xml.encode("utf-8")


def octet_counted(message: bytes) -> bytes:
    """RFC 5425 framing: ``MSG-LEN SP SYSLOG-MSG``."""
    return f"{len(message)} ".encode("ascii") + message


def _field(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, or the NILVALUE."""
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or NIL
