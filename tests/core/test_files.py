"""Atomic writes: private by default, whole or absent, never half-written."""

import stat
from pathlib import Path

import pytest

from desktop.core.errors import OutputError
from desktop.core.files import atomic_output, public_mode, write_atomic


def test_written_private_and_whole(tmp_path: Path) -> None:
    target = tmp_path / "secret.bin"
    write_atomic(target, b"x" * 1000)
    assert target.read_bytes() == b"x" * 1000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.bin"]


def test_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash in the middle")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_public_mode_follows_umask(tmp_path: Path) -> None:
    target = tmp_path / "picture.png"
    with atomic_output(target, mode=public_mode()) as temporary:
        temporary.write_bytes(b"png")
    assert stat.S_IMODE(target.stat().st_mode) == public_mode()


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_atomic(tmp_path / "no" / "file", b"")


def test_a_long_legal_name_is_written_and_an_impossible_one_refused_in_a_line(
    tmp_path: Path,
) -> None:
    longest = tmp_path / ("y" * 251 + ".mp4")  # 255 bytes: legal, the temporary is shorter
    with atomic_output(longest, suffix=".mp4") as temporary:
        assert len(temporary.name) < 20 and temporary.suffix == ".mp4"
        temporary.write_bytes(b"x")
    assert longest.read_bytes() == b"x"
    impossible = tmp_path / ("日本" * 43 + ".png")  # 86 characters, 262 bytes
    with (
        pytest.raises(OutputError, match=r"cannot write .*: file name too long$"),
        atomic_output(impossible),
    ):
        raise AssertionError("not reached")
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]
