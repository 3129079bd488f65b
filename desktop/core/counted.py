"""A number with its noun in the right number, for messages ("1 frame", "60 frames")."""


def counted(number: int, noun: str, plural: str = "") -> str:
    """``number`` and ``noun``, made plural (``plural``, else the noun with an s) unless 1."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
