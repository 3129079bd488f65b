"""Counts said in words for people: "1 file", "3 files", "2 entries"."""


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """``number`` with its noun, in the plural unless it is one ("3 files"); ``plural`` for a
    noun that does not just take an s (``counted(2, "entry", "entries")``)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
