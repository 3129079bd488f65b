"""DICOM dates and times as people read them (the tree, the CLI and the viewer agree)."""


def format_date(value: str) -> str:
    """YYYYMMDD → YYYY-MM-DD; anything else unchanged."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}"
    return value


def format_time(value: str) -> str:
    """HHMM[SS...] → HH:MM; '' when it is not a time."""
    return f"{value[:2]}:{value[2:4]}" if len(value) >= 4 and value[:4].isdigit() else ""


def format_date_time(date: str, time: str) -> str:
    """A study's date and time, as in the tree ('2026-03-14 09:30')."""
    return f"{format_date(date)} {format_time(time)}".strip()
