"""The media tree as a Qt model: Patient → Study → Series → Instance, draggable onto nodes."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from desktop.core.dates import format_date, format_date_time
from desktop.core.model import (
    Instance,
    InstanceStatus,
    MediaTree,
    Patient,
    Series,
    Study,
    frames_of,
)
from desktop.net.store import StoreItem

if TYPE_CHECKING:  # pydicom (~0.5 s to import) is not needed to show the window
    from desktop.signing import FileCheck

MIME_TYPE = "application/x-dicom-courier-instances"
COLUMNS = (
    "Name",
    "ID / number",
    "Date",
    "Description",
    "Modality",
    "Images",
    "Details",
    "Signature",
)
SIGNATURE_COLUMN = COLUMNS.index("Signature")
NODE_ROLE = Qt.ItemDataRole.UserRole + 1
CHECK_ROLE = Qt.ItemDataRole.UserRole + 2  # the instance's signature check, once verified
Node = Patient | Study | Series | Instance


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Selection:
    """What the viewer shows for a selected row: a series, opened at ``instance`` if given."""

    patient: Patient
    study: Study
    series: Series
    instance: Instance | None = None


def has_images(series: Series) -> bool:
    return any(i.frames != 0 and i.path is not None for i in series.instances)


def instances_of(node: Node) -> Iterable[Instance]:
    """Every instance at or below a tree node."""
    if isinstance(node, Instance):
        yield node
    elif isinstance(node, Series):
        yield from node.instances
    elif isinstance(node, Study):
        for series in node.series:
            yield from series.instances
    else:
        for study in node.studies:
            yield from instances_of(study)


def store_items(instances: Iterable[Instance]) -> list[StoreItem]:
    """The sendable instances (missing and damaged ones left out), as a send takes them."""
    return [
        StoreItem(i.path, i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax_uid, i.size or 0)
        for i in instances
        if i.path is not None and i.status not in (InstanceStatus.MISSING, InstanceStatus.DAMAGED)
    ]


def encode_instances(instances: Iterable[Instance]) -> bytes:
    """The drag payload: the ``store_items`` of ``instances``, as JSON."""
    records = [
        {
            "path": str(i.path),
            "sop_class_uid": i.sop_class_uid,
            "sop_instance_uid": i.sop_instance_uid,
            "transfer_syntax_uid": i.transfer_syntax_uid,
            "size": i.size,
        }
        for i in store_items(instances)
    ]
    return json.dumps(records).encode("utf-8")


def decode_instances(payload: bytes) -> list[StoreItem]:
    """The items a drag payload (``encode_instances``) holds."""
    return [
        StoreItem(
            Path(p["path"]),
            p["sop_class_uid"],
            p["sop_instance_uid"],
            p["transfer_syntax_uid"],
            p["size"],
        )
        for p in json.loads(payload.decode("utf-8"))
    ]


class MediaTreeModel(QStandardItemModel):
    """A read-only, draggable view of one MediaTree."""

    def __init__(self) -> None:
        super().__init__()
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.tree: MediaTree | None = None
        self._signature_cells: dict[Path, QStandardItem] = {}

    def show_tree(self, tree: MediaTree) -> None:
        """Show ``tree`` (patients, studies, series, instances) in place of what was shown."""
        self.removeRows(0, self.rowCount())
        self._signature_cells = {}
        self.tree = tree
        root = self.invisibleRootItem()
        for patient in tree.patients:
            patient_row = self._row(
                patient,
                [
                    patient.patient_name or "(no name)",
                    patient.patient_id,
                    format_date(patient.birth_date),
                    "",
                    "",
                    str(sum(s.instance_count for s in patient.studies)),
                    f"sex {patient.sex}" if patient.sex else "",
                ],
            )
            root.appendRow(patient_row)
            for study in patient.studies:
                study_row = self._row(
                    study,
                    [
                        "Study",
                        study.accession_number,
                        format_date_time(study.study_date, study.study_time),
                        study.study_description,
                        "/".join(study.modalities),
                        str(study.instance_count),
                        "",
                    ],
                )
                patient_row[0].appendRow(study_row)
                for series in study.series:
                    series_row = self._row(
                        series,
                        [
                            f"Series {_number(series.series_number)}",
                            "",
                            "",
                            series.series_description,
                            series.modality,
                            str(len(series.instances)),
                            "",
                        ],
                    )
                    study_row[0].appendRow(series_row)
                    for instance in series.instances:
                        row = self._row(instance, self._instance_cells(instance))
                        series_row[0].appendRow(row)
                        if instance.path is not None:
                            self._signature_cells[instance.path] = row[SIGNATURE_COLUMN]

    def signature_cell(self, index: QModelIndex) -> QStandardItem | None:
        """The Signature cell of ``index``'s row."""
        return self.itemFromIndex(index.siblingAtColumn(SIGNATURE_COLUMN))

    def instance_signature_cell(self, path: Path) -> QStandardItem | None:
        """The Signature cell of the instance read from ``path``, if it is shown."""
        return self._signature_cells.get(path)

    def check(self, index: QModelIndex) -> "FileCheck | None":
        """The signature check shown in ``index``'s row, if any."""
        if not index.isValid():
            return None
        value: Any = index.siblingAtColumn(SIGNATURE_COLUMN).data(CHECK_ROLE)
        return value  # type: ignore[no-any-return]

    @staticmethod
    def _instance_cells(instance: Instance) -> list[str]:
        size = f"{instance.columns}×{instance.rows}" if instance.rows else "no image"
        from pydicom.uid import UID

        syntax = UID(instance.transfer_syntax_uid).name if instance.transfer_syntax_uid else ""
        status = "" if instance.status is InstanceStatus.OK else f" [{instance.status.value}]"
        return [
            f"#{_number(instance.instance_number)}{status}",
            instance.path.name if instance.path is not None else "",  # tells the files apart
            "",
            instance.sop_class_name,
            "",
            str(frames_of(instance)),
            f"{size} · {syntax}{status}",
        ]

    @staticmethod
    def _row(node: Node, cells: list[str]) -> list[QStandardItem]:
        items = []
        for text in cells + [""] * (len(COLUMNS) - len(cells)):
            item = QStandardItem(text)
            item.setEditable(False)
            item.setData(node, NODE_ROLE)
            item.setDragEnabled(True)
            items.append(item)
        if isinstance(node, Instance) and node.status is not InstanceStatus.OK:
            items[0].setToolTip(f"This instance is {node.status.value}")
        return items

    def node(self, index: QModelIndex | QPersistentModelIndex) -> Node | None:
        value: Any = index.data(NODE_ROLE) if index.isValid() else None
        return value  # type: ignore[no-any-return]

    def selection(self, index: QModelIndex | QPersistentModelIndex) -> Selection | None:
        """The series (and image) to show for a row: a study or patient shows its first series
        with images."""
        chain: list[Node] = []
        while index.isValid():
            node = self.node(index)
            if node is not None:
                chain.insert(0, node)
            index = index.parent()
        if not chain or not isinstance(chain[0], Patient):
            return None
        patient = chain[0]
        studies = [chain[1]] if len(chain) > 1 else patient.studies
        for study in studies:
            assert isinstance(study, Study)
            if len(chain) > 2:
                series = chain[2]
                assert isinstance(series, Series)
                instance = chain[3] if len(chain) > 3 else None
                return Selection(patient, study, series, instance)  # type: ignore[arg-type]
            with_images = [s for s in study.series if has_images(s)]
            if with_images:
                return Selection(patient, study, with_images[0])
        return None

    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def mimeData(self, indexes: Any) -> QMimeData:
        seen: set[str] = set()
        instances: list[Instance] = []
        for index in indexes:
            node = self.node(index)
            for instance in instances_of(node) if node is not None else []:
                if instance.sop_instance_uid not in seen:
                    seen.add(instance.sop_instance_uid)
                    instances.append(instance)
        data = QMimeData()
        data.setData(MIME_TYPE, encode_instances(instances))
        return data
