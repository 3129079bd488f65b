"""De-identify before sending: the queue sends de-identified copies (PS3.15 Annex E, under the
home's project key) made in a private area (``desktop.net.copies``), never the sources; with a
recipient certificate each copy keeps its original values encrypted for that recipient."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from desktop.core.config import Node
from desktop.core.deid.batch import Protect, deidentify_file
from desktop.core.deid.keys import default_key_file, project_key
from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.profile import BASIC_PROFILE_CODE, Profile
from desktop.core.deid.table import Option, parse_options
from desktop.core.errors import CourierError
from desktop.net.store import StoreItem
from desktop.reidentify import recipient_protection

AREA = "deidentified"


@dataclass(frozen=True, slots=True)
class Deidentification:
    """How copies are de-identified: the profile's options, and who may re-identify them."""

    options: frozenset[Option] = frozenset()
    recipient: Path | None = None

    @classmethod
    def of_node(cls, node: Node) -> "Deidentification | None":
        """The node's setting (None: it gets the originals)."""
        if not node.deid:
            return None
        recipient = Path(node.deid_recipient) if node.deid_recipient else None
        return cls(parse_options(node.deid_options), recipient)

    def option_names(self) -> list[str]:
        return sorted(option.cli_name for option in self.options)

    def describe(self) -> str:
        """One line for the confirmation, the queue, the history and the audit trail."""
        names = self.option_names()
        text = f"de-identified copies ({BASIC_PROFILE_CODE[1]}"
        text += f"; options: {', '.join(names)}" if names else "; no option"
        if self.recipient is not None:
            text += f"; originals encrypted for {self.recipient.name}"
        return text + ")"


def deidentified_items(
    items: list[StoreItem], how: Deidentification, area: Path
) -> tuple[list[StoreItem], list[str]]:
    """The items pointing at de-identified copies written in ``area`` (new SOP Instance UIDs),
    and why any could not be made (those are left out: the node never gets an original)."""
    profile = Profile(KeyedMapping(project_key(default_key_file())), how.options)
    protect: Protect | None = None
    if how.recipient is not None:
        protect = recipient_protection(how.recipient)
    copies, refused = [], []
    for item in items:
        try:
            copy = deidentify_file(item.path, area, profile, protect=protect)
        except CourierError as error:
            refused.append(f"{item.path}: not sent, it could not be de-identified: {error}")
            continue
        copies.append(
            dataclasses.replace(
                item,
                path=copy,
                sop_instance_uid=copy.stem,
                size=copy.stat().st_size,
                sha256="",
            )
        )
    return copies, refused
