"""The rule of an AE title (PS3.5 6.2, VR AE): 1 to 16 characters of the default repertoire
without backslash or control characters, and not only spaces (leading and trailing spaces are
not significant)."""

import re

AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # printable ASCII but backslash
RULE = "1 to 16 printable ASCII characters, not only spaces, without backslash"


def is_ae_title(text: str) -> bool:
    """Whether ``text`` is a valid AE title."""
    return bool(AE_TITLE.fullmatch(text)) and bool(text.strip())
