"""Pick the files of chosen studies out of media trees, saying plainly what is not there."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from desktop.core.errors import MediaError
from desktop.core.media_writer import file_set_id
from desktop.core.model import InstanceStatus, MediaTree, Problem


@dataclass(frozen=True, slots=True)
class Selection:
    """The readable files of the studies, one per instance, the instances left out, and one
    file of each study (what an audit message names the study by)."""

    files: list[Path]
    left_out: list[Problem]
    firsts: list[Path]


def select_studies(trees: Sequence[MediaTree], study_uids: Sequence[str]) -> Selection:
    """The files of ``study_uids`` across ``trees`` (first copy of an instance wins); raise
    MediaError naming the studies available when one is in none of them."""
    wanted = set(study_uids)
    found: set[str] = set()
    files: list[Path] = []
    left_out: list[Problem] = []
    seen: set[str] = set()
    firsts: dict[tuple[str, str], Path] = {}  # a study UID of two patients: two studies
    for tree in trees:
        for patient in tree.patients:
            for study in patient.studies:
                if study.study_instance_uid not in wanted:
                    continue
                found.add(study.study_instance_uid)
                for series in study.series:
                    for instance in series.instances:
                        if instance.sop_instance_uid in seen or instance.path is None:
                            continue
                        if instance.status is InstanceStatus.DAMAGED:
                            left_out.append(Problem(instance.path, "damaged: skipped"))
                            continue
                        seen.add(instance.sop_instance_uid)
                        files.append(instance.path)
                        key = (study.study_instance_uid, patient.patient_id)
                        firsts.setdefault(key, instance.path)
    missing = [uid for uid in study_uids if uid not in found]
    if missing:
        raise MediaError(
            f"study {', '.join(missing)} not found; the studies available are: "
            + (_available(trees) or "none")
        )
    return Selection(files, left_out, list(firsts.values()))


def _available(trees: Sequence[MediaTree]) -> str:
    return "; ".join(
        f"{study.study_instance_uid} ({patient.patient_name or patient.patient_id}, "
        f"{study.study_date or 'no date'}, {study.study_description or 'no description'})"
        for tree in trees
        for patient in tree.patients
        for study in patient.studies
    )


def absent(trees: Sequence[MediaTree], study_uid: str | None, series_uid: str | None) -> str:
    """Why nothing of ``study_uid`` (and ``series_uid``) is in the trees, naming what is
    there: UIDs are long and pasted, the user needs to see which one was meant."""
    studies = [s for t in trees for p in t.patients for s in p.studies]
    chosen = [s for s in studies if study_uid in (None, s.study_instance_uid)]
    if not chosen:
        return f"study {study_uid} is not there; the studies there are: " + (
            _available(trees) or "none"
        )
    series = "; ".join(
        f"{one.series_instance_uid} ({one.modality or 'no modality'} "
        f"#{one.series_number if one.series_number is not None else '?'}, "
        f"{one.series_description or 'no description'})"
        for study in chosen
        for one in study.series
    )
    return f"series {series_uid} is not there; the series there are: {series or 'none'}"


def media_label(trees: Sequence[MediaTree], study_uid: str) -> str:
    """The File-set ID for media of the study: its patient ID (7 characters at most) and its
    date ('' when the study is in none of the trees)."""
    for tree in trees:
        for patient in tree.patients:
            for study in patient.studies:
                if study.study_instance_uid == study_uid:
                    return file_set_id(f"{patient.patient_id[:7]}_{study.study_date}".strip("_"))
    return ""


def sealed_media_label(exported: date) -> str:
    """The File-set ID (and ISO volume label) of sealed media: neutral, the day of export
    only, since any system shows a disc's label to whoever holds it, without the key."""
    return file_set_id(f"SEALED_{exported:%Y%m%d}")


def study_of(tree: MediaTree, sop_instance_uid: str) -> str:
    """The Study Instance UID of the instance in the tree ('' when it is not there)."""
    for patient in tree.patients:
        for study in patient.studies:
            for series in study.series:
                if any(i.sop_instance_uid == sop_instance_uid for i in series.instances):
                    return study.study_instance_uid
    return ""
