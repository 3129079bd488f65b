"""The append-only association history: one JSON line per association, under the home."""

import json
import os
import time
from pathlib import Path
from typing import Any

from desktop.core.files import private_folder


class History:
    """Appends records (time-stamped) to a JSON-lines file readable only by its owner."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps({"time": time.time(), **record}, default=str) + "\n"
        private_folder(self.path.parent)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(descriptor, line.encode("utf-8"))  # one write: lines never interleave
        finally:
            os.close(descriptor)

    def read(self, last: int | None = None) -> list[dict[str, Any]]:
        """The records, oldest first (the last ``last`` only, when given); bad lines skipped."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records[-last:] if last else records
