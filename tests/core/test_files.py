"""Atomic writes: private by default, whole or absent, never half-written."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.core.errors import OutputError
from desktop.core.files import (
    AtomicBatch,
    atomic_output,
    public_mode,
    sweep_leftovers,
    write_atomic,
)


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


def test_batch_moves_whole_files_into_place_only_at_commit(tmp_path: Path) -> None:
    batch = AtomicBatch()
    targets = [tmp_path / f"{n}.dcm" for n in range(3)]
    (tmp_path / "2.dcm").write_bytes(b"old")
    for number, target in enumerate(targets):
        with batch.output(target) as out:
            out.write(bytes([number]) * 1000)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["2.dcm"]
    assert (tmp_path / "2.dcm").read_bytes() == b"old"
    assert batch.commit() == targets
    for number, target in enumerate(targets):
        assert target.read_bytes() == bytes([number]) * 1000
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.dcm", "1.dcm", "2.dcm"]


def test_batch_failed_or_discarded_files_leave_nothing(tmp_path: Path) -> None:
    batch = AtomicBatch()
    with pytest.raises(RuntimeError), batch.output(tmp_path / "a.dcm") as out:
        out.write(b"half")
        raise RuntimeError("crash in the middle")
    with batch.output(tmp_path / "b.dcm") as out:
        out.write(b"whole")
    assert len(batch) == 1
    batch.discard()
    assert batch.commit() == []
    assert list(tmp_path.iterdir()) == []


def test_batch_names_a_missing_folder(tmp_path: Path) -> None:
    batch = AtomicBatch()
    with pytest.raises(OutputError, match="does not exist"), batch.output(tmp_path / "no" / "f"):
        pass
    assert len(batch) == 0


def test_batch_commits_files_written_by_another(tmp_path: Path) -> None:
    """A worker process's batch hands its written files over; the run's adopts and commits
    them (or removes them when discarded)."""
    written = AtomicBatch()
    for name in ("a.dcm", "b.dcm"):
        with written.output(tmp_path / name) as out:
            out.write(name.encode() * 1000)
    handed = written.hand_over()
    assert len(written) == 0 and [target.name for _, target in handed] == ["a.dcm", "b.dcm"]
    run = AtomicBatch(mode=0o640)
    run.adopt(*handed[0])
    assert run.commit() == [tmp_path / "a.dcm"]
    assert (tmp_path / "a.dcm").read_bytes() == b"a.dcm" * 1000
    assert stat.S_IMODE((tmp_path / "a.dcm").stat().st_mode) == 0o640
    run.adopt(*handed[1])
    run.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm"]


def test_only_the_leftovers_of_runs_that_died_are_swept(tmp_path: Path) -> None:
    """A run's temporary files name its process: those of a dead one go, a live run's (and a
    worker's of a live run) stay, as do files named otherwise."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone, live = int(dead.stdout), os.getpid()
    (tmp_path / "series").mkdir()
    names = [f".dc-{gone}-3.tmp", f".dc-{gone}-77-0.tmp", f".dc-{live}-4.tmp",
             f".dc-{live}-{gone}-1.tmp", ".dc-k2j4l1x9.tmp", "kept.dcm"]  # fmt: skip
    for name in names:
        made = tmp_path / "series" / name
        made.write_bytes(b"a copy under way")
        os.utime(made, (1e9, 1e9))  # not written a moment ago
    removed = sweep_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(p.name for p in (tmp_path / "series").iterdir()) == sorted(names[2:])


def test_the_leftovers_of_a_killed_run_not_yet_reaped_are_swept(tmp_path: Path) -> None:
    """A run killed (kill -9) whose parent has not reaped it yet is a zombie: dead, though
    signal 0 still reaches it; its partial copies are swept as any dead run's (tester's F4)."""
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        killed.kill()
        while not Path(f"/proc/{killed.pid}/stat").read_text().split(") ")[-1].startswith("Z"):
            time.sleep(0.01)  # the kill lands: a zombie until waited for
        leftover = tmp_path / f".dc-{killed.pid}-5.tmp"
        leftover.write_bytes(b"a copy under way")
        assert sweep_leftovers(tmp_path) == [leftover]
    finally:
        killed.wait()


def test_a_batch_names_the_run_it_writes_for(tmp_path: Path) -> None:
    batch = AtomicBatch(run=1)
    with batch.output(tmp_path / "copy.dcm") as out:
        out.write(b"x")
    [(temporary, _)] = batch.hand_over()
    assert temporary.name.startswith(f".dc-1-{os.getpid()}-")
    batch.adopt(temporary, tmp_path / "copy.dcm")
    assert batch.commit() == [tmp_path / "copy.dcm"]


def test_a_link_or_fifo_of_another_user_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written through only when ours (F1 of findings9): a link or FIFO another user left in
    a shared folder such as /tmp must not take our output (a patient's image) to that user,
    or over a file of ours. Here the files are "another user's" as seen by a process of a
    different user id."""
    victim = tmp_path / "authorized_keys"
    victim.write_text("ours")
    link = tmp_path / "x.png"
    link.symlink_to(victim)
    fifo = tmp_path / "y.png"
    os.mkfifo(fifo)
    monkeypatch.setattr(os, "geteuid", lambda: link.lstat().st_uid + 1)
    for planted in (link, fifo):
        with pytest.raises(OutputError, match=r"of another user's$"):
            write_atomic(planted, b"image")
    assert victim.read_text() == "ours" and link.is_symlink()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    write_atomic(Path(os.devnull), b"a device is no one's to lead astray")
