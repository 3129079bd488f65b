"""Text that files or peers hold, shown on a terminal: their control characters as escapes."""

import re

#: What a terminal obeys rather than shows (C0 and C1 controls, DEL): a file's values or a
#: peer's answers may hold them (ESC sequences recolour, retitle, clear the screen).
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """``text`` with its control characters as Python escapes (``\\x1b``, ``\\n``), as ``ls``
    shows such file names: displayed, never obeyed."""
    return CONTROLS.sub(_escape, text)


def _escape(character: re.Match[str]) -> str:
    return repr(character.group())[1:-1]
