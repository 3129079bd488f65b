"""How copies are de-identified before sending (the node's setting, or one send's choice):
light enough for the GUI's start, which shows it before anything is de-identified."""

from dataclasses import dataclass
from pathlib import Path

from desktop.core.config import Node
from desktop.core.deid.table import Option, parse_options

PROFILE_NAME = "Basic Application Confidentiality Profile"  #: CID 7050 113100


@dataclass(frozen=True, slots=True)
class Deidentification:
    """How copies are de-identified: the profile's options, who may re-identify them, and
    the burned-in text (``SEND_PIXELS``: off holds back the images that may show it, auto
    masks the text found)."""

    options: frozenset[Option] = frozenset()
    recipient: Path | None = None
    pixels: str = "off"

    @classmethod
    def of_node(cls, node: Node) -> "Deidentification | None":
        """The node's setting (None: it gets the originals)."""
        if not node.deid:
            return None
        recipient = Path(node.deid_recipient) if node.deid_recipient else None
        return cls(parse_options(node.deid_options), recipient, node.deid_pixels)

    def option_names(self) -> list[str]:
        return sorted(option.cli_name for option in self.options)

    def describe(self) -> str:
        """One line for the confirmation, the queue, the history and the audit trail."""
        names = self.option_names()
        text = f"de-identified copies ({PROFILE_NAME}"
        text += f"; options: {', '.join(names)}" if names else "; no option"
        if self.recipient is not None:
            text += f"; originals encrypted for {self.recipient.name}"
        return f"{text}); {self.pixels_in_words()}"

    def pixels_in_words(self) -> str:
        """What happens to burned-in text, as the history and the audit trail keep it."""
        if self.pixels == "auto":
            return "pixels searched for burned-in text, the text found masked"
        return "pixels not searched: images that may show burned-in text held back"
