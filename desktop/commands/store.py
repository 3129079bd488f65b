"""The Inbox as a local store: ``import`` media into it, ``store reindex`` and ``store list``."""

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.shown import shown
from desktop.inbox import existing_store, open_store

if TYPE_CHECKING:
    from desktop.core.archive import Level

LIST_KEYS = {
    "study": (
        "PatientID PatientName StudyDate StudyDescription ModalitiesInStudy "
        "NumberOfStudyRelatedSeries NumberOfStudyRelatedInstances StudyInstanceUID"
    ),
    "series": "PatientID StudyInstanceUID Modality SeriesNumber SeriesDescription "
    "NumberOfSeriesRelatedInstances SeriesInstanceUID",
    "image": "PatientID StudyInstanceUID SeriesInstanceUID InstanceNumber SOPClassUID "
    "SOPInstanceUID",
}

PLURALS = {"study": "studies", "series": "series", "image": "images"}


def register(commands: Any) -> None:
    """Add ``import`` and ``store ...`` to the parser's subcommands."""
    folder = argparse.ArgumentParser(add_help=False)
    folder.add_argument(
        "--store", type=Path, metavar="DIR", help="the store's folder (default: HOME/inbox)"
    )
    importing = commands.add_parser(
        "import",
        parents=[folder],
        help="copy DICOM files, folders or DICOMDIR media into the Inbox (the local store)",
    )
    importing.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="a DICOMDIR, a CD, a folder or files"
    )
    importing.set_defaults(run=_import)
    store = commands.add_parser("store", help="the Inbox's index: rebuild it, list what it holds")
    actions = store.add_subparsers(metavar="ACTION", required=True)
    reindex = actions.add_parser(
        "reindex",
        parents=[folder],
        help="bring the index in line with the files (after a crash or a hand edit): new or "
        "changed files are read, entries of files gone dropped",
    )
    reindex.add_argument("--full", action="store_true", help="read every file again")
    reindex.set_defaults(run=_reindex)
    listing = actions.add_parser("list", parents=[folder], help="print what the store holds")
    listing.add_argument("--level", choices=sorted(LIST_KEYS), default="study")
    listing.set_defaults(run=_list)


def _import(args: argparse.Namespace) -> int:
    from desktop.core.store.importing import Outcome, import_media

    outcomes: Counter[Outcome] = Counter()
    with open_store(args.store) as store:
        _say_recovered(store.recovered)
        for imported in import_media(store, args.paths):
            outcomes[imported.outcome] += 1
            if imported.warning:
                print(f"warning: {imported.warning}", file=sys.stderr, flush=True)
            if imported.outcome is Outcome.FAILED:
                print(f"failed: {imported.source}: {imported.reason}", flush=True)
            elif imported.outcome is Outcome.KEPT_BESIDE:
                print(
                    f"kept beside: {imported.source} -> {imported.path} (another file of the "
                    "same SOP Instance UID is in the store)",
                    flush=True,
                )
        print(", ".join(f"{outcomes[o]} {o.value}" for o in Outcome) + f" (into {store.folder})")
    return 1 if outcomes[Outcome.FAILED] else 0


def _reindex(args: argparse.Namespace) -> int:
    with existing_store(args.store) as store:
        _say_recovered(store.recovered)
        report = store.reindex(full=args.full)
        first = store.first_indexing
        if first is not None:  # no index (or an unfinished one) was there: every file read
            report.read = first.read  # (the files it could not index were tried again above)
        for problem in report.failed:
            print(f"not indexed: {problem.reason}")
        print(
            f"read {report.read} of {report.files} file(s), dropped {report.dropped} entr"
            f"{'y' if report.dropped == 1 else 'ies'} of files gone, {len(report.failed)} "
            f"file(s) not indexed; {store.folder} holds {report.instances} instance(s) of "
            f"{report.series} series, {report.studies} stud"
            f"{'y' if report.studies == 1 else 'ies'}, {report.patients} patient(s)"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    from pydicom import Dataset

    level: Level = (
        "STUDY" if args.level == "study" else "SERIES" if args.level == "series" else "IMAGE"
    )
    keys = LIST_KEYS[args.level].split()
    identifier = Dataset()
    for keyword in keys:
        setattr(identifier, keyword, "")
    count = 0
    with existing_store(args.store) as store:
        _say_recovered(store.recovered)
        for match in store.find(model="STUDY", level=level, identifier=identifier):
            count += 1
            print(shown("  ".join(f"{k}={match.get(k, '')}" for k in keys if match.get(k) != "")))
    print(f"{count} {args.level if count == 1 else PLURALS[args.level]}")
    return 0


def _say_recovered(recovered: str) -> None:
    if recovered:
        print(f"the store's index: {recovered}", flush=True)
