"""The part of the Archive protocol storage commitment uses, over a listener's inbox (files
named by SOP Instance UID): enough to test the provider before the indexed store exists."""

from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom import Dataset

from desktop.core.archive import Level, Model


class InboxArchive:
    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox

    def holds(self, *, sop_class_uid: str, sop_instance_uid: str) -> Path | None:
        for path in self.inbox.glob(f"*/*/*/{sop_instance_uid}.dcm"):
            meta = pydicom.dcmread(path, stop_before_pixels=True)
            if meta.SOPClassUID == sop_class_uid and meta.SOPInstanceUID == sop_instance_uid:
                return path
        return None

    def find(self, *, model: Model, level: Level, identifier: Dataset) -> Iterator[Dataset]:
        raise NotImplementedError

    def locate(self, *, model: Model, level: Level, identifier: Dataset) -> list[Path]:
        raise NotImplementedError

    def add(self, path: Path) -> None:
        return None
