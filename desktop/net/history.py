"""The append-only association history: one JSON line per association, under the home.

Bounded: past ``max_bytes`` the file is rotated (``history.jsonl.1`` ... ``.3``, oldest
dropped), so a peer hammering the listener cannot fill the disk.
"""

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from desktop.core.files import private_folder


class History:
    """Appends records (time-stamped) to a JSON-lines file readable only by its owner."""

    def __init__(self, path: Path, *, max_bytes: int = 8 << 20, keep: int = 3) -> None:
        self.path = path
        self.max_bytes, self.keep = max_bytes, keep

    def _rotated(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    def _rotate_if_full(self) -> None:
        try:
            if self.path.stat().st_size < self.max_bytes:
                return
        except FileNotFoundError:
            return
        with contextlib.suppress(FileNotFoundError):  # another process rotated it first
            for number in range(self.keep - 1, 0, -1):
                if self._rotated(number).exists():
                    self._rotated(number).replace(self._rotated(number + 1))
            self.path.replace(self._rotated(1))

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` with the time, as one line written at once (rotating when full)."""
        line = json.dumps({"time": time.time(), **record}, default=str) + "\n"
        private_folder(self.path.parent)
        self._rotate_if_full()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(descriptor, line.encode("utf-8"))  # one write: lines never interleave
        finally:
            os.close(descriptor)

    def read(self, last: int | None = None) -> list[dict[str, Any]]:
        """The records, oldest first (the last ``last`` only, when given); bad lines skipped."""
        files = [self._rotated(n) for n in range(self.keep, 0, -1)] + [self.path]
        lines = [
            line
            for path in files
            if path.exists()
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records[-last:] if last else records
