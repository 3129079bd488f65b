"""Copies made by worker processes are those one process makes: the same bytes under the same
names, reported in the same order, a second file of one instance refused whichever worker
copied it, a damaged file refused; a run stopped or killed part-way leaves no copy that is not
whole under its name, and no worker behind."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.core.audit.studies import STUDY_TAGS, instance_in, instance_of
from desktop.core.deid.batch import Copied, copy_files, source_files
from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.parallel import SMALLEST, workers_for
from desktop.core.deid.profile import Profile
from desktop.core.deid.raw import deidentify_header
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.core.values import RawValues

KEY = bytes(range(32))
STUDIES = tuple(
    StudySpec(f"P{n}", f"Patient^{n}", "20240101", "CT", (SeriesSpec("CT", "a", count=40),))
    for n in range(2)
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 files, a second copy of one instance far from the first (another worker's chunk),
    a file with its pixel data cut short, and one that is not DICOM."""
    folder = tmp_path_factory.mktemp("media")
    [first, *_] = write_files(folder / "in", STUDIES)
    data = first.read_bytes()
    (folder / "in" / "zz same instance.dcm").write_bytes(data)
    (folder / "in" / "zz truncated.dcm").write_bytes(data[:-1000])
    (folder / "in" / "zz notes.txt").write_text("not DICOM")
    return folder / "in"


def _run(media: Path, out: Path, *, workers: int) -> list[Copied]:
    profile = Profile(KeyedMapping(KEY))
    return list(copy_files(list(source_files([media])), out, profile, workers=workers))


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_workers_copy_as_one_process_does(media: Path, tmp_path: Path) -> None:
    alone = _run(media, tmp_path / "alone", workers=0)
    shared = _run(media, tmp_path / "shared", workers=2)
    assert len(_tree(tmp_path / "shared")) == 80
    assert _tree(tmp_path / "shared") == _tree(tmp_path / "alone")
    assert [(d.source, d.error.replace("shared", "alone")) for d in shared] == [
        (d.source, d.error) for d in alone
    ]
    assert [d.copy is None for d in shared] == [d.copy is None for d in alone]
    refused = {d.source.name: d.error for d in shared if d.copy is None}
    assert sorted(refused) == ["zz notes.txt", "zz same instance.dcm", "zz truncated.dcm"]
    assert "holds the same instance (SOP Instance UID) as" in refused["zz same instance.dcm"]
    assert "is damaged (truncated" in refused["zz truncated.dcm"]
    assert all(d.study is not None and d.study.patient_name.startswith("Patient^")
               for d in shared if d.copy is not None)  # fmt: skip


def test_a_run_stopped_early_leaves_only_whole_copies(media: Path, tmp_path: Path) -> None:
    profile = Profile(KeyedMapping(KEY))
    run = copy_files(list(source_files([media])), tmp_path / "out", profile, workers=2)
    first = next(run)
    run.close()
    assert first.copy is not None and first.copy.is_file()
    left = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert all(p.suffix == ".dcm" and not p.name.startswith(".") for p in left)
    assert len(left) % 64 == 0  # whole batches only: the one reported, no temporary file


def test_the_study_read_on_the_way_is_the_one_read_from_the_file(tmp_path: Path) -> None:
    """The audit's study of a copy made from the bytes is read from them, not from the file
    again: the same values, a name in the file's character set decoded alike."""
    [path] = write_files(tmp_path, (StudySpec("P", "Müller^Jörg", "20240101", "CT", (
        SeriesSpec("CT", "a"),)),))  # fmt: skip
    copy = deidentify_header(path.read_bytes(), Profile(KeyedMapping(KEY)), keep=STUDY_TAGS)
    assert copy is not None
    assert instance_in(RawValues(copy.originals, True)) == instance_of(path)
    assert instance_of(path)[1].patient_name == "Müller^Jörg"


def test_a_killed_run_leaves_no_partial_copy_under_its_name_and_the_next_run_none(
    media: Path, tmp_path: Path
) -> None:
    """The command killed just after its first batch is reported, in the middle of the next:
    every copy under its name is whole (as a complete run writes it); the rest are only
    temporary files, which the next run into the folder removes and says so (tester's F4,
    round 6: they stayed, hidden, in the folder handed on)."""
    whole = tmp_path / "whole"
    _run(media, whole, workers=2)
    out = tmp_path / "out"
    command, env = _deid_command(media, out, tmp_path)
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("de-identified ")
        process.send_signal(signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    named = [p for p in out.rglob("*.dcm") if not p.name.startswith(".")]
    assert len(named) >= 64
    for copy in named:
        assert copy.read_bytes() == (whole / copy.relative_to(out)).read_bytes()
    assert all(p.name.startswith(".dc-") for p in out.rglob("*") if p.is_file() and
               p not in named)  # fmt: skip
    deadline = time.monotonic() + 10
    while _running(command) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(command)  # its workers ended with it
    left = [p for p in out.rglob(".dc-*.tmp")]
    assert left  # the workers' copies under way
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 1, again.stderr  # the media's damaged files, said again
    assert f"removed {len(left)} partial copies (.dc-*.tmp) a stopped run left in {out}" in (
        again.stderr
    )
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]
    assert sorted(p.relative_to(out) for p in out.rglob("*.dcm")) == sorted(
        p.relative_to(whole) for p in whole.rglob("*.dcm")
    )


def _deid_command(media: Path, out: Path, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The CLI command de-identifying ``media`` into ``out`` with a project key written under
    ``tmp_path``, and its environment (a fresh home there)."""
    key = tmp_path / "project.key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    command = [sys.executable, "-m", "desktop.cli", "deid", str(media), "--out", str(out),
               "--key-file", str(key)]  # fmt: skip
    return command, {**os.environ, "DICOM_COURIER_HOME": str(tmp_path / "home")}


def _running(command: list[str]) -> list[int]:
    """The processes running ``command`` (a killed run's workers would)."""
    wanted = "\0".join(command).encode()
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().rstrip(b"\0") == wanted:
                found.append(int(entry.name))
    return found


def test_no_worker_is_forked_beside_other_threads_nor_for_a_few_files() -> None:
    """Forking a process that runs threads (the GUI's) is unsafe: it copies by itself."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert workers_for(1000) == 0
    finally:
        stop.set()
        thread.join()
    assert workers_for(SMALLEST - 1) == 0


@pytest.mark.parametrize(
    ("number", "to_group"),
    [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, True)],
    ids=["kill", "kill-group", "ctrl-c"],
)
def test_a_run_ended_by_sigterm_or_ctrl_c_removes_its_temporary_files(
    media: Path, tmp_path: Path, number: signal.Signals, to_group: bool
) -> None:
    """``kill`` (SIGTERM) of the command alone or of its process group (its workers end at
    once), or Ctrl+C (SIGINT, to the group) in the middle of a run: it says it was
    interrupted, and leaves only whole copies under their names, no temporary file (a killed
    worker's too) and no worker behind."""
    out = tmp_path / "out"
    command, env = _deid_command(media, out, tmp_path)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith("de-identified ")
        if to_group:
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        said = process.stderr.read()
    assert process.wait(timeout=30) == 130, said
    assert said.strip().endswith("dicom-courier: interrupted"), said
    assert "Traceback" not in said
    assert not list(out.rglob(".dc-*.tmp"))  # removed by the run itself
    assert all(not p.name.startswith(".") for p in out.rglob("*"))
    assert not _running(command)  # its workers ended with it
