"""Exports from the viewer: the image on screen as PNG, the cine or the series as MP4.

The file dialogs open in the folder used last and propose a name made of the patient and the
series, so a user exporting several series does not type names nor navigate each time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QProgressDialog, QWidget

from desktop import auditing
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.viewer import ViewerPanel
from desktop.ui.workers import GeneratorWorker, call, start

if TYPE_CHECKING:  # numpy and pydicom (~0.7 s to import) are not needed to show the window
    from desktop.core.export import Frames

FOLDER_KEY = "export/folder"


class ExportController(QObject):
    """Runs the viewer's exports on the thread pool and says how they ended."""

    def __init__(
        self,
        parent: QWidget,
        settings: QSettings,
        viewer: ViewerPanel,
        prompter: Prompter,
        status: Callable[[str], None],
        report: Callable[[str, Exception], None],
    ) -> None:
        super().__init__(parent)
        self.settings, self.viewer, self.prompter = settings, viewer, prompter
        self.status, self.report = status, report

    def proposed_path(self, suffix: str, *, image: int | None = None) -> Path:
        """The last export folder (or home) and a name from the patient and series shown."""
        from desktop.core.export import suggested_name

        folder = Path(str(self.settings.value(FOLDER_KEY) or Path.home()))
        selection = self.viewer.selection
        if selection is None:
            return folder / f"image{suffix}"
        series = selection.series
        name = suggested_name(
            selection.patient.patient_name.replace("^", " "),
            f"S{series.series_number}" if series.series_number is not None else None,
            series.modality,
            series.series_description,
            f"{image + 1:04d}" if image is not None else None,
            suffix=suffix,
        )
        return folder / name

    def _ask(self, title: str, suffix: str, kind: str, image: int | None = None) -> Path | None:
        name = self.prompter.save_file(title, str(self.proposed_path(suffix, image=image)), kind)
        if name is None:
            return None
        self.settings.setValue(FOLDER_KEY, str(name.parent))
        return name if name.suffix else name.with_suffix(suffix)

    def export_png(self) -> GeneratorWorker | None:
        """Write the image shown as a PNG, as it is windowed, where the user says."""
        stack, shown = self.viewer.stack, self.viewer.shown
        if stack is None or not stack.images:
            self.status("Select an image first")
            return None
        index = self.viewer.current
        target = self._ask("Export image", ".png", "PNG (*.png)", index)
        if target is None:
            return None
        window = shown.window if shown is not None else self.viewer.windowing

        def write() -> None:
            from desktop.core.export import export_png

            source, frame = stack.source(index)
            auditing.export_file(
                source.path,
                target,
                lambda: export_png(source, target, frame=frame, window=window),
            )

        return self._run(call(write), f"Wrote {target}")

    def export_mp4(self) -> GeneratorWorker | None:
        """Write the cine or the series shown as an MP4 video, where the user says."""
        stack = self.viewer.stack
        if stack is None or len(stack) < 2:
            self.status("Select a cine or a series of several images first")
            return None
        target = self._ask("Export cine or series", ".mp4", "MP4 video (*.mp4)")
        return None if target is None else self.export_video(stack, target)

    def export_video(self, frames: Frames, target: Path) -> GeneratorWorker:
        """Encode ``frames`` into ``target`` on a worker, with progress and Cancel."""
        from desktop.core.export import export_mp4

        dialog = QProgressDialog("Encoding the video…", "Cancel", 0, frames.frame_count)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        window, fps = self.viewer.windowing, self.viewer.fps.value()
        encoded = export_mp4(frames, target, fps=fps, window=window)  # runs in the worker
        origin = _first_file(frames)
        worker = GeneratorWorker(lambda: auditing.export_frames(origin, target, encoded))
        worker.signals.yielded.connect(lambda progress: dialog.setValue(progress.done))
        dialog.canceled.connect(worker.cancel)
        return self._run(worker, f"Wrote {target}", dialog)

    def _run(
        self, worker: GeneratorWorker, success: str, dialog: QProgressDialog | None = None
    ) -> GeneratorWorker:
        def finished(_: object) -> None:
            if dialog is not None:
                dialog.close()
            self.status(success)

        def failed(error: Exception) -> None:
            if dialog is not None:
                dialog.close()
            self.report("Export failed", error)

        worker.signals.returned.connect(finished)
        worker.signals.errored.connect(failed)
        return start(worker)


def _first_file(frames: Frames) -> Path:
    """The file whose study an export of ``frames`` is audited under."""
    from desktop.core.frames import FrameSource
    from desktop.core.stack import Stack

    if isinstance(frames, Stack):
        return frames.source(0)[0].path
    return frames.path if isinstance(frames, FrameSource) else Path()
