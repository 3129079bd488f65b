"""The media tree as JSON-ready data and as readable text (for the CLI and for scripts)."""

from collections import Counter
from typing import Any

from pydicom.uid import UID

from desktop.core.dates import format_date, format_time
from desktop.core.model import Instance, MediaTree, Patient, Problem, Series, Study
from desktop.core.shown import shown
from desktop.core.words import counted


def tree_to_json(tree: MediaTree) -> dict[str, Any]:
    """The documented JSON shape of ``dicom-courier tree --json``."""
    return {
        "source": tree.source,
        "root": str(tree.root),
        "patients": [_patient_json(p) for p in tree.patients],
        "problems": [{"path": str(p.path), "reason": p.reason} for p in tree.problems],
    }


def _patient_json(patient: Patient) -> dict[str, Any]:
    return {
        "patient_id": patient.patient_id,
        "patient_name": patient.patient_name,
        "birth_date": patient.birth_date,
        "sex": patient.sex,
        "studies": [_study_json(s) for s in patient.studies],
    }


def _study_json(study: Study) -> dict[str, Any]:
    return {
        "study_instance_uid": study.study_instance_uid,
        "study_date": study.study_date,
        "study_time": study.study_time,
        "study_description": study.study_description,
        "accession_number": study.accession_number,
        "modalities": study.modalities,
        "series": [_series_json(s) for s in study.series],
    }


def _series_json(series: Series) -> dict[str, Any]:
    return {
        "series_instance_uid": series.series_instance_uid,
        "modality": series.modality,
        "series_number": series.series_number,
        "series_description": series.series_description,
        "instances": [_instance_json(i) for i in series.instances],
    }


def _instance_json(instance: Instance) -> dict[str, Any]:
    return {
        "sop_instance_uid": instance.sop_instance_uid,
        "sop_class_uid": instance.sop_class_uid,
        "sop_class_name": instance.sop_class_name,
        "instance_number": instance.instance_number,
        "transfer_syntax_uid": instance.transfer_syntax_uid,
        "frames": instance.frames,
        "rows": instance.rows,
        "columns": instance.columns,
        "path": str(instance.path) if instance.path else None,
        "size": instance.size,
        "status": instance.status.value,
    }


def tree_to_text(tree: MediaTree) -> str:
    """An indented outline: patients, studies, series, instances, then the problems."""
    studies = [s for p in tree.patients for s in p.studies]
    series = [se for s in studies for se in s.series]
    instances = sum(len(se.instances) for se in series)
    lines = [
        f"{'DICOMDIR' if tree.source == 'dicomdir' else 'Folder scan'} of {tree.root}: "
        f"{counted(len(tree.patients), 'patient')}, {counted(len(studies), 'study', 'studies')}, "
        f"{counted(len(series), 'series', 'series')}, {counted(instances, 'instance')}"
    ]
    for patient in tree.patients:
        details = "  ".join(
            x
            for x in (
                f"born {format_date(patient.birth_date)}" if patient.birth_date else "",
                patient.sex,
            )
            if x
        )
        lines.append(
            f"{patient.patient_name or '(no name)'}  "
            f"[{patient.patient_id or 'no ID'}]  {details}".rstrip()
        )
        for study in patient.studies:
            lines.append(
                f"  {format_date(study.study_date) or '(no date)'} "
                f"{format_time(study.study_time)}  "
                f"{study.study_description or '(no description)'}  "
                f"acc {study.accession_number or '-'}  {'/'.join(study.modalities)}"
            )
            for item in study.series:
                lines.append(
                    f"    series {item.series_number if item.series_number is not None else '-'}  "
                    f"{item.modality or '??'}  {item.series_description or '(no description)'}  "
                    f"{counted(len(item.instances), 'instance')}"
                )
                lines.extend(f"      {_instance_text(i)}" for i in item.instances)
    if tree.problems:
        lines.append(f"Problems ({len(tree.problems)}):")
        lines.extend(_problem_lines(tree.problems))
    return "\n".join(shown(line) for line in lines)


def _problem_lines(problems: list[Problem]) -> list[str]:
    """One line a problem, in order; a reason met more than twice is one line, where it is
    first met, naming that file and how many more (a sealed disc: not 24 identical lines;
    ``--json`` lists each)."""
    counts = Counter(problem.reason for problem in problems)
    lines, said = [], set()
    for problem in problems:
        count = counts[problem.reason]
        if count <= 2:
            lines.append(f"  {problem.path}: {problem.reason}")
        elif problem.reason not in said:
            said.add(problem.reason)
            lines.append(f"  {problem.path} and {count - 1} more files: {problem.reason}")
    return lines


def _instance_text(instance: Instance) -> str:
    number = instance.instance_number if instance.instance_number is not None else "-"
    size = (
        f"{instance.columns}×{instance.rows}" if instance.rows and instance.columns else "no image"
    )
    syntax = UID(instance.transfer_syntax_uid).name if instance.transfer_syntax_uid else "?"
    flag = "" if instance.status.value == "ok" else f"  [{instance.status.value}]"
    return (
        f"#{number}  {instance.sop_class_name or '?'}  {size}  "
        f"{counted(instance.frames or 0, 'frame')}  {syntax}  "
        f"{_bytes(instance.size)}  {instance.path or ''}{flag}"
    )


def _bytes(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return f"{size:.1f} GB"
