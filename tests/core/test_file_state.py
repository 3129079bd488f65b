"""A file's state vouches for it: a change of content shows even with its size kept and its
modification time set back; a file just changed, or any on Windows, is not settled."""

import os
import time
from pathlib import Path

import pytest

from desktop.core import file_state
from desktop.core.file_state import file_state as state_of
from desktop.core.file_state import settled


def test_a_change_of_content_changes_the_state_even_with_mtime_set_back(tmp_path: Path) -> None:
    path = tmp_path / "file.dcm"
    path.write_bytes(b"\x00" * 1000)
    before = path.stat()
    time.sleep(0.05)  # past the file system's clock tick
    path.write_bytes(b"\x01" * 1000)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert after.st_size == before.st_size and after.st_mtime_ns == before.st_mtime_ns
    assert state_of(after) != state_of(before)


def test_a_file_just_changed_is_not_settled_nor_any_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.dcm"
    path.write_bytes(b"\x00")
    assert not settled(path.stat())  # within SETTLED_NS of its change
    monkeypatch.setattr(file_state, "SETTLED_NS", 0)
    assert settled(path.stat())
    monkeypatch.setattr(file_state.sys, "platform", "win32")
    assert not settled(path.stat())
