"""The browser: open media off the GUI thread and show Patient → Study → Series → Image."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.model import Instance, InstanceStatus, MediaTree, Problem
from desktop.ui.errors import describe
from desktop.ui.icons import icon
from desktop.ui.models.media_model import MediaTreeModel, instances_of
from desktop.ui.widgets.narrow import ElidedLabel
from desktop.ui.workers import GeneratorWorker, start

if TYPE_CHECKING:  # pydicom (~0.5 s to import) is not needed to show the window
    from desktop.core.media import LoadProgress

Loader = Callable[[], Generator["LoadProgress", None, MediaTree]]
SOURCE_NAMES = {"dicomdir": "DICOMDIR", "scan": "folder", "store": "indexed store"}


class ProblemsDialog(QDialog):
    """What could not be read, path by path, with a button to copy it all."""

    def __init__(self, problems: list[Problem], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{len(problems)} problem(s) on this media")
        self.resize(800, 400)
        self.list = QListWidget()
        self.list.addItems([f"{p.path}: {p.reason}" for p in problems])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy all", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self.copy_all)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(buttons)

    def copy_all(self) -> None:
        lines = [self.list.item(i).text() for i in range(self.list.count())]
        QApplication.clipboard().setText("\n".join(lines))


class BrowserPanel(QWidget):
    """The media tree with its loading progress and problems badge."""

    selected = Signal(object)  # Selection: the series (and image) to show
    loaded = Signal(object)  # MediaTree
    failed = Signal(str)
    status = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = MediaTreeModel()
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setAlternatingRowColors(True)
        self.view.setUniformRowHeights(True)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.title = ElidedLabel("Open a DICOMDIR, a CD or a folder (Ctrl+O), or drop it here")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.problems_button = QPushButton()
        self.problems_button.setVisible(False)
        self.problems_button.clicked.connect(self.show_problems)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.problems_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.progress)
        layout.addWidget(self.view)
        self.worker: GeneratorWorker | None = None
        self.tree: MediaTree | None = None

    def open_path(self, path: Path) -> GeneratorWorker:
        """Load ``path`` on the thread pool; the tree appears when it is read."""
        from desktop.core.media import load_media

        return self.open_loader(f"Opening {path} …", lambda: load_media(path))

    def open_loader(self, title: str, load: Loader) -> GeneratorWorker:
        """Run ``load`` (a media reader, the store's index) on the thread pool and show the
        tree it returns."""
        if self.worker is not None:
            self.worker.cancel()
        self.title.setText(title)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        worker = GeneratorWorker(load)
        worker.signals.yielded.connect(self._progress)
        worker.signals.returned.connect(self._loaded)
        worker.signals.errored.connect(self._failed)
        self.worker = start(worker)
        return worker

    def _progress(self, record: LoadProgress) -> None:
        if record.total:
            self.progress.setRange(0, record.total)
            self.progress.setValue(record.done)
            self.progress.setFormat(f"{record.stage}: %v of %m")

    def _loaded(self, tree: MediaTree) -> None:
        self.worker = None
        self.tree = tree
        self.progress.setVisible(False)
        self.model.show_tree(tree)
        self.view.expandToDepth(1)
        for column in range(self.model.columnCount()):
            self.view.resizeColumnToContents(column)
        count = sum(1 for _ in tree.instances())
        kind = SOURCE_NAMES.get(tree.source, "folder")
        self.title.setText(
            f"{tree.root} ({kind}): {len(tree.patients)} patient(s), {count} image(s)"
        )
        self.problems_button.setIcon(icon("warning"))
        self.problems_button.setText(f"{len(tree.problems)} problem(s)")
        self.problems_button.setVisible(bool(tree.problems))
        self.status.emit(f"Opened {tree.root}: {count} images, {len(tree.problems)} problems")
        self.loaded.emit(tree)

    def _failed(self, error: Exception) -> None:
        message = describe(error)
        self.worker = None
        self.progress.setVisible(False)
        self.title.setText(message)
        self.failed.emit(message)

    def show_problems(self) -> None:
        if self.tree is not None:
            ProblemsDialog(self.tree.problems, self).exec()

    def _current_changed(self, current: QModelIndex, _: QModelIndex) -> None:
        selection = self.model.selection(current)
        if selection is not None:
            self.selected.emit(selection)

    def selected_instances(self) -> list[Instance]:
        seen: dict[str, Instance] = {}
        for index in self.view.selectionModel().selectedRows():
            node = self.model.node(index)
            for instance in instances_of(node) if node is not None else []:
                seen.setdefault(instance.sop_instance_uid, instance)
        return list(seen.values())

    def readable_selection(self) -> list[Path]:
        """The files of the selected instances that can be read whole (not missing, not
        damaged): what de-identify, seal and re-identify work on."""
        return [
            i.path
            for i in self.selected_instances()
            if i.path is not None and i.status is InstanceStatus.OK
        ]

    def select_first(self, depth: int) -> None:
        """Select the first item at ``depth`` (0 patient, 1 study, 2 series, 3 image)."""
        index = self.model.index(0, 0)
        for _ in range(depth):
            index = self.model.index(0, 0, index)
        self.view.setCurrentIndex(index)
        self.view.selectionModel().select(
            index,
            self.view.selectionModel().SelectionFlag.ClearAndSelect
            | self.view.selectionModel().SelectionFlag.Rows,
        )
