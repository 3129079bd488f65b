"""Copying instances from media (a DICOMDIR, a CD, a folder, files) into the store.

Each instance is copied beside its place, then linked into place exactly as the listener files
what it receives (``core.filing``): an identical instance already there is not copied twice, a
different file with the same SOP Instance UID is kept beside, never over it. A file that cannot
be read fails alone, with its reason; the others go on.
"""

import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from desktop.core.errors import CourierError
from desktop.core.files import private_file, private_folder
from desktop.core.filing import file_into_place, stored_path
from desktop.core.media import open_media
from desktop.core.model import Instance, InstanceStatus, MediaTree, SharedStudy
from desktop.core.store.store import Store

STAGING = ".importing"
IMPORTABLE = frozenset({InstanceStatus.OK, InstanceStatus.UNREFERENCED})


class Outcome(StrEnum):
    COPIED = "copied"
    ALREADY_THERE = "already there"
    KEPT_BESIDE = "kept beside"  # another file of the same SOP Instance UID is there
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Imported:
    """What became of one file of the media."""

    source: Path
    outcome: Outcome
    path: Path | None = None  # where it is in the store
    reason: str = ""
    warning: str = ""  # copied, but to be checked (a study UID of two patients)


def import_media(store: Store, sources: Iterable[Path]) -> Iterator[Imported]:
    """Copy the instances of each source into ``store``, one record per file."""
    for source in sources:
        try:
            tree = open_media(Path(source))
        except CourierError as error:
            yield Imported(Path(source), Outcome.FAILED, reason=str(error))
            continue
        yield from _import_tree(store, tree)


def _import_tree(store: Store, tree: MediaTree) -> Iterator[Imported]:
    staging = private_folder(store.folder / STAGING)
    reasons: dict[Path, list[str]] = {}
    shared: dict[Path, str] = {}  # not the file's failure: said beside its copy
    for problem in tree.problems:
        if isinstance(problem, SharedStudy):
            shared[problem.path] = problem.reason
        else:
            reasons.setdefault(problem.path, []).append(problem.reason)
    imported: set[Path] = set()
    for patient in tree.patients:
        for study in patient.studies:
            for series in study.series:
                for instance in series.instances:
                    if instance.path is None:
                        continue
                    if instance.status not in IMPORTABLE:
                        why = "; ".join(reasons.get(instance.path, [instance.status.value]))
                        yield Imported(instance.path, Outcome.FAILED, reason=why)
                        imported.add(instance.path)
                        continue
                    target = stored_path(
                        store.folder,
                        patient.patient_id,
                        study.study_instance_uid,
                        series.series_instance_uid,
                        instance.sop_instance_uid,
                    )
                    imported.add(instance.path)
                    done = _copy(
                        store,
                        instance,
                        target,
                        staging,
                        study.study_instance_uid,
                        series.series_instance_uid,
                    )
                    yield replace(done, warning=shared.get(instance.path, ""))
    for path, found in reasons.items():
        if path not in imported:
            yield Imported(path, Outcome.FAILED, reason="; ".join(found))


def _copy(
    store: Store, instance: Instance, target: Path, staging: Path, study: str, series: str
) -> Imported:
    assert instance.path is not None
    source = instance.path
    missing = [
        name
        for name, uid in (("StudyInstanceUID", study), ("SeriesInstanceUID", series))
        if not uid
    ]
    if missing:
        return Imported(
            source, Outcome.FAILED, reason=f"no {' nor '.join(missing)}: the store cannot index it"
        )
    temporary = staging / f"{secrets.token_hex(8)}.dcm"
    try:
        shutil.copyfile(source, private_file(temporary))  # 0600 before a byte is written
        private_folder(target.parent)
        final, duplicate = file_into_place(temporary, target)
    except OSError as error:
        return Imported(source, Outcome.FAILED, reason=f"cannot copy it: {error}")
    finally:
        temporary.unlink(missing_ok=True)
    try:
        store.add(final)
    except CourierError as error:
        if not duplicate:
            final.unlink(missing_ok=True)
        return Imported(source, Outcome.FAILED, reason=str(error))
    if duplicate:
        return Imported(source, Outcome.ALREADY_THERE, final)
    outcome = Outcome.COPIED if final == target else Outcome.KEPT_BESIDE
    return Imported(source, outcome, final)
